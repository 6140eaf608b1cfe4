// Package test holds sipproxy's black-box tests: sipp scenarios
// (scenarios/*.xml) and WebSocket/TLS SIP clients driving the real
// bin/sipproxy binary over loopback.
package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto/logbuf"
	"sipmedia/ngproto/testport"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sipproxy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "sipproxy")
	// GOFLAGS=-race (make test's second pass) reaches this build too.
	out, err := exec.Command("go", "build", "-o", binPath, "../cmd/sipproxy").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sipproxy: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proxy is a running bin/sipproxy.
type proxy struct {
	SIP, TLS, WS, WSS, Mgmt int
	log                     *logbuf.Buffer
	proc                    *os.Process
}

func (p *proxy) addr() string { return "127.0.0.1:" + strconv.Itoa(p.SIP) }

// startProxy runs bin/sipproxy on free ports and waits until its
// management port answers. A port found free can be taken by another
// process before sipproxy binds it, so a bind failure means another try
// on other ports.
func startProxy(t *testing.T, extra ...string) *proxy {
	t.Helper()
	return startProxyWith(t, func(*proxy) []string { return extra })
}

// startProxyWith is startProxy with extra arguments that depend on the
// ports chosen.
func startProxyWith(t *testing.T, extra func(*proxy) []string) *proxy {
	t.Helper()
	for try := 1; ; try++ {
		p, exited := startProxyOnce(t, extra)
		if !exited {
			return p
		}
		if try == 5 || !strings.Contains(p.log.String(), "address already in use") {
			t.Fatalf("sipproxy did not come up:\n%s", p.log.String())
		}
		t.Logf("sipproxy could not bind its ports (try %d), again on others", try)
	}
}

// startProxyOnce starts sipproxy and reports whether it exited before
// its management port answered.
func startProxyOnce(t *testing.T, extra func(*proxy) []string) (p *proxy, exited bool) {
	t.Helper()
	p = &proxy{SIP: testport.Get(t), TLS: testport.Get(t), WS: testport.Get(t), WSS: testport.Get(t), Mgmt: testport.Get(t), log: &logbuf.Buffer{}}
	args := []string{
		"--listen=udp:127.0.0.1:" + strconv.Itoa(p.SIP),
		"--listen=tcp:127.0.0.1:" + strconv.Itoa(p.SIP),
		"--listen=tls:127.0.0.1:" + strconv.Itoa(p.TLS),
		"--listen=ws:127.0.0.1:" + strconv.Itoa(p.WS),
		"--listen=wss:127.0.0.1:" + strconv.Itoa(p.WSS),
		"--mgmt=127.0.0.1:" + strconv.Itoa(p.Mgmt),
		"--min-expires=1",
		"--fr-timeout=2s",
		"--fr-inv-timeout=3s",
	}
	cmd := exec.Command(binPath, append(args, extra(p)...)...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.proc = cmd.Process
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if strings.Contains(p.log.String(), "DATA RACE") || strings.Contains(p.log.String(), "panic:") {
			t.Errorf("sipproxy reported a race or panic")
		}
		if t.Failed() {
			t.Logf("sipproxy log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := p.counters(); err == nil {
			return p, false
		}
		select {
		case <-done:
			return p, true
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("sipproxy did not come up:\n%s", p.log.String())
	return nil, false
}

// hangup sends sipproxy SIGHUP and waits until its log says want once
// more.
func (p *proxy) hangup(t *testing.T, want string) {
	t.Helper()
	n := strings.Count(p.log.String(), want)
	if err := p.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.log.String(), want) == n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q after SIGHUP:\n%s", want, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proxy) get(path string, v any) error {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p.Mgmt) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (p *proxy) counters() (map[string]int64, error) {
	var m map[string]int64
	err := p.get("/counters", &m)
	return m, err
}

type registration struct {
	AOR      string `json:"aor"`
	Contact  string `json:"contact"`
	Received string `json:"received"`
	Expires  int    `json:"expires"`
	DstWS    bool   `json:"dst_ws"`
}

func (p *proxy) registrations(t *testing.T, aor string) []registration {
	t.Helper()
	var all []registration
	if err := p.get("/registrations", &all); err != nil {
		t.Fatal(err)
	}
	var out []registration
	for _, r := range all {
		if r.AOR == aor {
			out = append(out, r)
		}
	}
	return out
}

// waitRegistered polls until aor has n bindings.
func (p *proxy) waitRegistered(t *testing.T, aor string, n int) []registration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := p.registrations(t, aor)
		if len(rs) == n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d bindings, want %d", aor, len(rs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sipp runs one sipp instance; Wait returns its error with the error log.
type sipp struct {
	cmd     *exec.Cmd
	errFile string
	out     bytes.Buffer
	cancel  context.CancelFunc
	done    chan error // cmd.Wait's result
}

// startSipp starts sipp on fresh ports. The ports are free when chosen but
// other test packages running at the same time may take one before sipp
// binds it ("Unable to bind main socket"); sipp then exits at once and is
// started again on other ports.
func startSipp(t *testing.T, scenario, transport string, target string, keys map[string]string) *sipp {
	t.Helper()
	for try := 1; ; try++ {
		s := startSippOnce(t, scenario, transport, target, keys)
		select {
		case err := <-s.done:
			if err != nil && try < 3 && s.bindFailed() {
				t.Logf("sipp could not bind its ports (try %d), again on others", try)
				continue
			}
			s.done <- err // for Wait
		case <-time.After(200 * time.Millisecond):
		}
		return s
	}
}

func startSippOnce(t *testing.T, scenario, transport string, target string, keys map[string]string) *sipp {
	t.Helper()
	dir := t.TempDir()
	s := &sipp{errFile: filepath.Join(dir, "err.log")}
	tmode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	local := "127.0.0.1"
	if strings.HasPrefix(target, "[") {
		local = "::1" // sipp's own address in the family it calls
	}
	args := []string{"-sf", filepath.Join("scenarios", scenario), "-i", local, "-p", strconv.Itoa(testport.Get(t)),
		"-t", tmode, "-m", "1", "-timeout", "20s", "-timeout_error", "-max_recv_loops", "1000",
		"-trace_err", "-error_file", s.errFile, "-trace_msg", "-message_file", filepath.Join(dir, "msg.log"),
		"-mp", strconv.Itoa(testport.Get(t))}
	for k, v := range keys {
		if k == "cid" {
			// Both sipp instances of a call use this Call-ID, so the
			// callee maps the INVITE to the call its REGISTER began.
			args = append(args, "-cid_str", v)
			continue
		}
		if k == "aa" {
			args = append(args, "-aa") // answer OPTIONS, INFO, NOTIFY, UPDATE outside calls
			continue
		}
		if k == "au" || k == "ap" {
			args = append(args, "-"+k, v) // digest username and password
			continue
		}
		args = append(args, "-key", k, v)
	}
	args = append(args, target)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s.cancel = cancel
	s.cmd = exec.CommandContext(ctx, "sipp", args...)
	s.cmd.Stdout = &s.out
	s.cmd.Stderr = &s.out
	s.cmd.Stdin = nil
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { cancel() })
	return s
}

// bindFailed reports whether sipp exited for want of its ports.
func (s *sipp) bindFailed() bool {
	e, _ := os.ReadFile(s.errFile)
	return bytes.Contains(e, []byte("Unable to bind")) || bytes.Contains(s.out.Bytes(), []byte("Unable to bind"))
}

// messages is what sipp sent and received (its -trace_msg log).
func (s *sipp) messages() string {
	b, _ := os.ReadFile(strings.Replace(s.errFile, "err.log", "msg.log", 1))
	return string(b)
}

func (s *sipp) Wait() error {
	defer s.cancel()
	err := <-s.done
	if err != nil {
		e, _ := os.ReadFile(s.errFile)
		return fmt.Errorf("sipp: %v\noutput:\n%s\nerrors:\n%s\nmessages:\n%s", err, tail(s.out.Bytes(), 2000), e, tail([]byte(s.messages()), 6000))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func runSipp(t *testing.T, scenario, transport, target string, keys map[string]string) {
	t.Helper()
	if err := startSipp(t, scenario, transport, target, keys).Wait(); err != nil {
		t.Fatalf("%s over %s: %v", scenario, transport, err)
	}
}

func needSipp(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not installed (make deps installs it)")
	}
}
