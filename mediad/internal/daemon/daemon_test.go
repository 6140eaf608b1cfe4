package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/loglevel"
	"sipmedia/ngproto"
	"sipmedia/ngproto/logbuf"
)

func TestRunServesAndShutsDownCleanly(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "mediad.pid")
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfgLevels := config.Default()
	lv := NewLevels(&cfgLevels)
	r := startRun(t, log, Options{LogLevels: lv}, "--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-i", "ext/203.0.113.1", "-n", "127.0.0.1:0",
		"-c", "127.0.0.1:0", "--listen-http=127.0.0.1:0", "-p", pidfile, "-m", "43000", "-M", "43099", "--jitter-buffer=5")
	addrs := r.Addrs
	if _, err := os.Stat(pidfile); err != nil {
		t.Errorf("pidfile: %v", err)
	}

	// NG over UDP.
	c, err := ngproto.Dial(addrs.NG, ngproto.ClientConfig{Retries: 3, Interval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Do(ctx, ngproto.Dict{"command": "ping"})
	if err != nil || reply.Str("result") != "pong" {
		t.Fatalf("ping: %v %v", reply, err)
	}
	// A live call holds media ports until shutdown releases it.
	reply, err = c.Do(ctx, ngproto.Dict{"command": "offer", "call-id": "shutdown-1", "from-tag": "a",
		"sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"})
	c.Close()
	if err != nil || reply.Str("result") != "ok" {
		t.Fatalf("offer: %v %v", reply, err)
	}
	m := regexp.MustCompile(`m=audio (\d+) `).FindStringSubmatch(reply.Str("sdp"))
	if m == nil {
		t.Fatalf("no media port in %q", reply.Str("sdp"))
	}
	mediaAddr := "127.0.0.1:" + m[1]
	if u, err := net.ListenPacket("udp", mediaAddr); err == nil {
		u.Close()
		t.Fatalf("media port %s of a live call is not bound", mediaAddr)
	}
	// CLI port.
	if out, err := cli.Query(ctx, addrs.CLI, "list maxsessions"); err != nil || out != "Maximum sessions configured on rtpengine: -1\n" {
		t.Errorf("cli: %q %v", out, err)
	}
	if out, err := cli.Query(ctx, addrs.CLI, "set loglevel http 7"); err != nil || out != "Success setting loglevel to 7\n" ||
		lv.Get(loglevel.HTTP) != 7 || lv.Get(loglevel.Core) != 6 {
		t.Errorf("set loglevel: %q %v, levels http %d core %d", out, err, lv.Get(loglevel.HTTP), lv.Get(loglevel.Core))
	}
	// HTTP: /ping, /cli/..., POST /ng, unknown path.
	base := "http://" + addrs.HTTP[0]
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ping"); code != 200 || body != "pong\n" {
		t.Errorf("/ping: %d %q", code, body)
	}
	if code, body := get("/cli/list%20timeout"); code != 200 || body != "TIMEOUT=60\n" {
		t.Errorf("/cli: %d %q", code, body)
	}
	if code, _ := get("/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}
	resp, err := http.Post(base+"/ng", "application/x-rtpengine-ng", strings.NewReader("abc d7:command4:pinge"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "abc d6:result4:ponge" {
		t.Errorf("POST /ng: %q", b)
	}

	r.stop()
	if _, err := os.Stat(pidfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile not removed: %v", err)
	}
	if u, err := net.ListenPacket("udp", mediaAddr); err != nil {
		t.Errorf("media port %s still bound after shutdown: %v", mediaAddr, err)
	} else {
		u.Close()
	}
	if !strings.Contains(logs.String(), "interface address cannot be bound") || !strings.Contains(logs.String(), "address=203.0.113.1") {
		t.Errorf("no warning about the non-local interface address:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `options=--jitter-buffer`) {
		t.Errorf("no warning naming --jitter-buffer:\n%s", logs.String())
	}
	http.DefaultClient.CloseIdleConnections()
	r.checkGoroutines()
}

func TestRunFailsOnBusyListener(t *testing.T) {
	cfg, err := config.Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "127.0.0.1:0", "-c", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, nil, Options{Ready: func(a Addrs) { ready <- a }}) }()
	a := <-ready
	cfg2 := *cfg
	cfg2.ListenCLI = a.CLI // already taken by the first daemon
	if err := Run(context.Background(), &cfg2, nil, Options{}); err == nil || !strings.Contains(err.Error(), "--listen-cli") {
		t.Errorf("second daemon on a busy CLI port: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.LogLevel = 4
	cfg.NoLogTimestamps = true
	cfg.LogStderr = true
	log, err := NewLogger(&cfg, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || strings.Contains(out, "time=") {
		t.Errorf("log output %q", out)
	}

	// Per subsystem: the control protocol at debug, the rest at warning,
	// changed at run time as the CLI does.
	buf.Reset()
	cfg.SubsystemLogLevels = map[string]int{"control": 7, "ice": 0}
	levels := NewLevels(&cfg)
	log, err = NewLogger(&cfg, &buf, levels)
	if err != nil {
		t.Fatal(err)
	}
	ng, ice, relay := log.With("component", "ng"), log.With("component", "webrtc").With("component", "ice"), log.With("component", "relay")
	ng.Debug("ng-debug")
	ice.Info("ice-info")
	ice.Warn("ice-warn")
	relay.Info("relay-info")
	levels.Set(loglevel.ICE, 6)
	levels.Set(loglevel.Control, 3)
	ice.Info("ice-info-later")
	ng.Warn("ng-warn-later")
	out := buf.String()
	for _, want := range []string{"ng-debug", "ice-warn", "ice-info-later"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s not logged:\n%s", want, out)
		}
	}
	for _, not := range []string{"ice-info ", "relay-info", "ng-warn-later"} {
		if strings.Contains(out+" ", not) {
			t.Errorf("%s logged:\n%s", not, out)
		}
	}
}

func TestBreakLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		max  int
		want []string
	}{
		{"short", 10, []string{"short"}},
		{"exactly10!", 10, []string{"exactly10!"}},
		{"0123456789abcdefghijXY", 10, []string{"0123456789 ...", "... abcdefghij ...", "... XY"}},
		{"no limit at all", 0, []string{"no limit at all"}},
		{"negative", -1, []string{"negative"}},
	} {
		if got := breakLine(tc.line, tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("breakLine(%q, %d) = %q, want %q", tc.line, tc.max, got, tc.want)
		}
	}
}

func TestLoggerMarksAndBreaks(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.LogStderr, cfg.NoLogTimestamps = true, true
	cfg.LogMarkPrefix, cfg.LogMarkSuffix = "<<", ">>"
	cfg.MaxLogLineLength = 50
	log, err := NewLogger(&cfg, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("call", "call-id", "abc", "from", "1.2.3.4:5")
	log.With("tag", "t1").Info("a rather long message that goes past fifty bytes", "n", 1)
	want := `level=INFO msg=call call-id=<<abc>> from=1.2.3.4:5
level=INFO msg="a rather long message that goes pa ...
... st fifty bytes" tag=<<t1>> n=1
`
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
