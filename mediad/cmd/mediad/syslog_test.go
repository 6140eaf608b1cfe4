package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto"
	"sipmedia/ngproto/logbuf"
	"sipmedia/ngproto/testport"
)

// TestSyslog runs the binary without -E, as rtpengine's unit files do
// without it: its lines go to syslog with the --log-facility, each at its
// level's severity, tagged mediad[pid]. The daemon runs in a mount
// namespace of its own whose /dev/log is the test's socket, so no syslog
// daemon of the machine is involved.
func TestSyslog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	logs, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	ng := testport.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A /dev of its own (tmpfs) with log pointing at the test's socket.
	script := fmt.Sprintf(`mount -t tmpfs none /dev && ln -s %s /dev/log && exec %s --config-file=none -i 127.0.0.1 `+
		`-n 127.0.0.1:%d -f -L 7 --log-facility=local3 -m 42000 -M 42099`, sock, bin, ng)
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	var stderr logbuf.Buffer // written by exec's copying goroutine
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	c, err := ngproto.Dial(fmt.Sprintf("127.0.0.1:%d", ng), ngproto.ClientConfig{Retries: 20, Interval: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Do(ctx, ngproto.Dict{"command": "ping"}); err != nil || r.Str("result") != "pong" {
		t.Fatalf("ping: %v %v\nstderr: %s", r, err, stderr.String())
	}
	// An NG error and a datagram without cookie are logged at warning
	// (as rtpengine's "Protocol error" and "invalid data").
	_, _ = c.Do(ctx, ngproto.Dict{"command": "query", "call-id": "nope"})
	raw, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", ng))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = raw.Write([]byte("garbage"))

	// <PRI>TIMESTAMP mediad[PID]: level=... (local3 is 19: PRI 152+severity)
	line := regexp.MustCompile(`^<(\d+)>.* mediad\[(\d+)\]: (.*)$`)
	seen := map[string]string{} // message -> PRI
	buf := make([]byte, 8192)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (seen["startup"] == "" || seen["ng error"] == "" || seen["bad request"] == "") {
		logs.SetReadDeadline(deadline)
		n, err := logs.Read(buf)
		if err != nil {
			break
		}
		m := line.FindStringSubmatch(strings.TrimSpace(string(buf[:n])))
		if m == nil {
			t.Errorf("not a syslog line: %q", buf[:n])
			continue
		}
		if strings.Contains(m[3], "time=") {
			t.Errorf("a syslog line with its own time: %q", m[3])
		}
		switch {
		case strings.Contains(m[3], `msg="Startup complete"`):
			seen["startup"] = m[1]
		case strings.Contains(m[3], `msg="Protocol error"`):
			seen["ng error"] = m[1]
		case strings.Contains(m[3], `without cookie`):
			seen["bad request"] = m[1]
		}
	}
	// info = 6, warning = 4
	want := map[string]string{"startup": "158", "ng error": "156", "bad request": "156"}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("%s logged with priority %q, want %s (local3, its severity); all: %v\nstderr: %s", k, seen[k], v, seen, stderr.String())
		}
	}
	// As rtpengine, warnings and worse go to stderr too (just after
	// syslog).
	out := stderr.String()
	for end := time.Now().Add(2 * time.Second); !strings.Contains(out, "without cookie") && time.Now().Before(end); out = stderr.String() {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out, `msg="Protocol error"`) || !strings.Contains(out, "without cookie") || strings.Contains(out, "Startup complete") {
		t.Errorf("stderr while syslog listens, want the warnings only: %q", out)
	}
}
