package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/ports"
	"sipmedia/ngproto"
)

// TestHTTPMetricsAndPaths runs mediad with only an HTTP listener, sets up
// a call over POST /ng and POST /ng-plain, relays RTP through it, and
// checks what /metrics reports at each step, an offer timeout included,
// and the CLI over GET and POST.
func TestHTTPMetricsAndPaths(t *testing.T) {
	r := startRun(t, nil, Options{}, "--config-file=none", "-t", "-1", "-i", "127.0.0.1",
		"--listen-http=127.0.0.1:0", "-m", "43100", "-M", "43199", "--offer-timeout=1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "http://" + r.HTTP[0]
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, ctype, body string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	scrape := func() map[string]float64 {
		t.Helper()
		code, ct, body := do(http.MethodGet, "/metrics", "", "")
		if code != 200 || !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("/metrics: %d %q\n%s", code, ct, body)
		}
		return parseMetrics(t, body)
	}
	expect := func(step string, m map[string]float64, want map[string]float64) {
		t.Helper()
		for k, v := range want {
			got, ok := m[k]
			if !ok {
				t.Errorf("%s: %s missing", step, k)
			} else if got != v {
				t.Errorf("%s: %s = %v, want %v", step, k, got, v)
			}
		}
	}

	m := scrape()
	expect("idle", m, map[string]float64{
		`mediad_sessions{type="own"}`: 0, `mediad_sessions_total`: 0, `mediad_ports_used`: 0,
		`mediad_ports`: 100, `mediad_ports_free`: 100, `mediad_ports_warm`: 0, `mediad_packets_total{type="userspace"}`: 0,
		`mediad_packets_total{type="kernel"}`: 0, `mediad_closed_sessions_total{reason="offer_timeout"}`: 0,
	})
	for k := range m {
		if !strings.HasPrefix(k, "mediad_") {
			t.Errorf("metric %s outside mediad_*", k)
		}
	}

	// Two RTP endpoints; the call is offered over /ng (bencode, cookie)
	// and answered over /ng-plain (JSON, no cookie).
	a, b := listenRTP(t), listenRTP(t)
	offer, err := ngproto.AppendMessage(nil, ngproto.Message{Cookie: "c1", Encoding: ngproto.Bencode, Body: ngproto.Dict{
		"command": "offer", "call-id": "m1", "from-tag": "ta", "sdp": sdpFor(a)}})
	if err != nil {
		t.Fatal(err)
	}
	code, ct, body := do(http.MethodPost, "/ng", "application/x-rtpengine-ng", string(offer))
	if code != 200 || ct != "application/x-rtpengine-ng" || !strings.HasPrefix(body, "c1 ") {
		t.Fatalf("POST /ng offer: %d %q %q", code, ct, body)
	}
	reply, err := ngproto.DecodeMessage([]byte(body))
	if err != nil || reply.Body.Str("result") != "ok" {
		t.Fatalf("offer reply %q: %v", body, err)
	}
	toB := mediaPort(t, reply.Body.Str("sdp")) // where B sends

	code, ct, body = do(http.MethodPost, "/ng-plain", "application/json",
		fmt.Sprintf(`{"command":"answer","call-id":"m1","from-tag":"ta","to-tag":"tb","sdp":%q}`, sdpFor(b)))
	if code != 200 || ct != "application/x-rtpengine-ng" || !strings.HasPrefix(body, "{") {
		t.Fatalf("POST /ng-plain answer: %d %q %q", code, ct, body)
	}
	ans, _, err := ngproto.DecodeBody([]byte(body))
	if err != nil || ans.Str("result") != "ok" {
		t.Fatalf("answer reply %q: %v", body, err)
	}
	toA := mediaPort(t, ans.Str("sdp")) // where A sends
	if toA == toB {
		t.Fatalf("both sides got port %d", toA)
	}

	// One audio medium per side: an RTP and an RTCP port each.
	expect("answered", scrape(), map[string]float64{
		`mediad_sessions{type="own"}`: 1, `mediad_sessions{type="foreign"}`: 0, `mediad_sessions_total`: 1,
		`mediad_ports_used`: 4, `mediad_ports_free`: 96, `mediad_mediastreams{type="userspace"}`: 4,
		`mediad_mediastreams{type="kernel"}`: 0,
	})

	// Five packets A -> B through mediad.
	const n, size = 5, 172
	pkt := make([]byte, size)
	pkt[0] = 0x80
	for i := range n {
		pkt[3] = byte(i)
		if _, err := a.WriteToUDP(pkt, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: toA}); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	for i := range n {
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		if k, _, err := b.ReadFromUDP(buf); err != nil || k != size {
			t.Fatalf("B packet %d: %d bytes, %v", i, k, err)
		}
	}
	expect("relayed", scrape(), map[string]float64{
		`mediad_packets_total{type="userspace"}`: n, `mediad_bytes_total{type="userspace"}`: n * size,
		`mediad_packet_errors_total{type="userspace"}`: 0,
	})

	// An offer never answered ends by the offer timeout (1 s here).
	code, _, body = do(http.MethodPost, "/ng-plain", "application/x-rtpengine-ng",
		"d7:command5:offer7:call-id2:m28:from-tag2:x13:sdp"+strconv.Itoa(len(sdpFor(a)))+":"+sdpFor(a)+"e")
	if code != 200 || !strings.Contains(body, "6:result2:ok") {
		t.Fatalf("POST /ng-plain bencode offer: %d %q", code, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for m = scrape(); m[`mediad_closed_sessions_total{reason="offer_timeout"}`] == 0 && time.Now().Before(deadline); m = scrape() {
		time.Sleep(100 * time.Millisecond)
	}
	expect("offer timeout", m, map[string]float64{
		`mediad_closed_sessions_total{reason="offer_timeout"}`: 1, `mediad_closed_sessions_total{reason="timeout"}`: 0,
		`mediad_sessions_total`: 2, `mediad_sessions{type="own"}`: 1, `mediad_ports_used`: 4,
	})

	// CLI: GET with "+" for spaces, POST with a text/plain body.
	if code, _, body := do(http.MethodGet, "/cli/list+numsessions", "", ""); code != 200 ||
		!strings.Contains(body, "Current sessions own: 1\n") {
		t.Errorf("GET /cli/list+numsessions: %d %q", code, body)
	}
	if code, ct, body := do(http.MethodPost, "/cli", "text/plain; charset=utf-8", "terminate m1\n"); code != 200 ||
		ct != "text/plain" || !strings.Contains(body, "Call Id (m1) successfully terminated") {
		t.Errorf("POST /cli terminate: %d %q %q", code, ct, body)
	}
	expect("terminated", scrape(), map[string]float64{
		`mediad_sessions{type="own"}`: 0, `mediad_ports_used`: 0,
		`mediad_closed_sessions_total{reason="force_terminated"}`: 1,
		`mediad_packets_total{type="userspace"}`:                  n,
	})

	// Wrong method or content type: 404 as rtpengine answers.
	for _, r := range [][3]string{
		{http.MethodPost, "/cli", "application/json"},
		{http.MethodPost, "/ng-plain", "text/plain"},
		{http.MethodPost, "/metrics", "text/plain"},
		{http.MethodGet, "/ng", ""},
	} {
		if code, _, _ := do(r[0], r[1], r[2], "x"); code != 404 {
			t.Errorf("%s %s (%s): %d, want 404", r[0], r[1], r[2], code)
		}
	}

	r.stop()
	client.CloseIdleConnections()
	r.checkGoroutines()
}

func TestCLIFromPath(t *testing.T) {
	for in, want := range map[string]string{
		"/cli/list+totals":        "list totals",
		"/cli/list%20timeout":     "list timeout",
		"/cli/terminate%2Ba+b":    "terminate+a b",
		"/cli/list/sessions%3Dx+": "list/sessions=x ",
	} {
		if got, ok := cliFromPath(in); !ok || got != want {
			t.Errorf("cliFromPath(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := cliFromPath("/cli/%zz"); ok {
		t.Error("bad escape accepted")
	}
}

func listenRTP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sdpFor(c *net.UDPConn) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n",
		c.LocalAddr().(*net.UDPAddr).Port)
}

var mediaPortRE = regexp.MustCompile(`m=audio (\d+) `)

func mediaPort(t *testing.T, sdp string) int {
	t.Helper()
	m := mediaPortRE.FindStringSubmatch(sdp)
	if m == nil {
		t.Fatalf("no audio port in %q", sdp)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// parseMetrics maps each sample of a Prometheus text exposition
// ("name{labels} value") to its value.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// FuzzCLIFromPath: any escaped path yields a command or false, never a
// panic, and a command never holds a "+" that came from the raw path.
func FuzzCLIFromPath(f *testing.F) {
	for _, s := range []string{"/cli/list+totals", "/cli/%2B", "/cli/%", "/cli/", "/cli/a%20b+c", "/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cmd, ok := cliFromPath(p)
		if ok && strings.Count(cmd, "+") > strings.Count(strings.ToUpper(p), "%2B") {
			t.Errorf("cliFromPath(%q) = %q keeps a raw +", p, cmd)
		}
	})
}

// BenchmarkMetricsScrape measures one /metrics scrape with 500 live calls
// (offered, 4 ports each): the collector walks every call at scrape time.
func BenchmarkMetricsScrape(b *testing.B) {
	cfg, err := config.Parse([]string{"--config-file=none", "-t", "-1", "-i", "127.0.0.1", "--listen-http=127.0.0.1:0", "-m", "50000", "-M", "51999"})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	alloc, err := ports.New(cfg.PortMin, cfg.PortMax, log)
	if err != nil {
		b.Fatal(err)
	}
	core, err := newCore(cfg, alloc, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer core.close()
	srv := &ngproto.Server{Handler: core.handler(cli.NewRunner(*cfg, core.calls, alloc, log)), Logger: log}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
	for i := range 500 {
		body, err := ngproto.EncodeBody(ngproto.Dict{"command": "offer", "call-id": fmt.Sprint("b", i), "from-tag": "a", "sdp": sdp}, ngproto.Bencode)
		if err != nil {
			b.Fatal(err)
		}
		if r := string(srv.ProcessPlain(context.Background(), body, netip.AddrPort{})); !strings.Contains(r, "6:result2:ok") {
			b.Fatalf("offer %d: %q", i, r)
		}
	}
	h := metricsHandler(core.calls, alloc, log)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
