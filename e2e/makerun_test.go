package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/logbuf"
)

// The addresses `make run` prints (scripts/run.sh).
const (
	runSIP     = "127.0.0.1:5060"
	runTLS     = "127.0.0.1:5061"
	runWSS     = "127.0.0.1:8443"
	runDemo    = "127.0.0.1:8444"
	runNG      = "127.0.0.1:22222"
	runCLIPort = "9900"
	runMgmt    = "127.0.0.1:5099" // sipproxy's default --mgmt
	runGreet   = "Ctrl-C stops everything."
)

// TestMakeRun runs what `make run` runs after building (scripts/run.sh,
// with this workspace's binaries) as a person would, in a network
// namespace of its own since it listens on fixed ports. It waits for the
// printed instructions and follows them: two UDP phones register at
// 127.0.0.1:5060 and call with media through the media daemon; the CLI
// port answers rtpengine-ctl; `sipproxy ctl list` shows the registrations;
// headless Chromium opens the demo page, registers as alice and calls bob,
// a UDP phone, audio arriving both ways, then hangs up (web/drive-demo.mjs
// clicks as a person would); it registers again as carol, and answers
// dave's call from a UDP phone; the page, its JsSIP bundle and its settings
// are served over HTTPS with the certificate the script made, which WSS
// and TLS present too. Then Ctrl-C (SIGINT to the process group, as a
// terminal sends it) must stop everything: the script ends and no process
// is left in the namespace. All of it twice: with mediad, and with
// MEDIA=rtpengine (Debian's rtpengine in its place, as the README offers).
func TestMakeRun(t *testing.T) {
	inside, _ := browsertest.Enter(t, browsertest.Netns{
		Timeout: 4 * time.Minute,
		Need:    []string{filepath.Join("node_modules", "jssip"), filepath.Join("node_modules", ".bin", "esbuild")},
	})
	if !inside {
		return
	}
	if _, err := exec.LookPath("rtpengine-ctl"); err != nil {
		t.Fatal("rtpengine-ctl is missing (run scripts/install-deps.sh)")
	}
	root, err := daemon.WorkspaceRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, path := range map[string]string{"sipproxy": sipproxyBinary(t), "mediad": daemon.MediadBinaryTB(t)} {
		if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}

	for _, media := range []string{"mediad", "rtpengine"} {
		t.Run(media, func(t *testing.T) { makeRun(t, filepath.Join(root, "scripts", "run.sh"), bin, media) })
	}
}

// makeRun is one TestMakeRun with MEDIA=media.
func makeRun(t *testing.T, script, bin, media string) {
	run := startRunScript(t, script, bin, media)
	if out := run.out.String(); strings.Contains(out, "demo page off") {
		t.Fatalf("the demo page is off although the npm packages are installed:\n%s", out)
	}

	t.Run("call", func(t *testing.T) {
		cfg := phone.Config{Proxy: mustAddrPort(runSIP), Domain: "127.0.0.1"}
		cfg.User = "alice"
		alice := registeredPhone(t, cfg)
		cfg.User = "bob"
		bob := registeredPhone(t, cfg)
		a, b := placeCall(t, alice, bob, "bob")
		checkMediaThrough(t, runNG, a, b)
		// rtpengine's CLI under load now and then ends a connection early
		// (see cli.TestCompareWithRtpengine), so it is asked again; mediad's
		// must answer the first time.
		const want = "Current sessions own: 1\n"
		tries := 1
		if media == "rtpengine" {
			tries = 5
		}
		var out []byte
		var err error
		for try := 0; try < tries && (err != nil || !strings.Contains(string(out), want)); try++ {
			out, err = exec.Command("rtpengine-ctl", "-ip", "127.0.0.1", "-port", runCLIPort, "list", "numsessions").CombinedOutput()
		}
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("rtpengine-ctl list numsessions during the call: %v\n%s", err, out)
		}
		out, err = exec.Command(filepath.Join(bin, "sipproxy"), "ctl", "list").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"aor": "alice"`) || !strings.Contains(string(out), `"aor": "bob"`) {
			t.Errorf("sipproxy ctl list: %v, want alice's and bob's bindings:\n%s", err, out)
		}
		hangup(t, a, b)
		run.checkDeleted(t, a.ID)
	})

	// The browser calls, holds and resumes the call with the page's Hold
	// button, and sends DTMF with its keypad: the telephone-events reach
	// the phone through mediad.
	t.Run("browser", func(t *testing.T) {
		bob := registeredPhone(t, phone.Config{User: "bob", Proxy: mustAddrPort(runSIP), Domain: "127.0.0.1"})
		res, c := browserCallsPhone(t, "https://"+runDemo+"/?target=bob&hold&dtmf=123", "drive-demo.mjs", bob, nil)
		checkBrowserPhoneAudio(t, res, c)
		checkHeld(t, res)
		waitEnded(t, c)
		ev, ok := phone.EventPT(c.Received)
		got, n := c.RTP.Events(ev), c.RTP.ReceivedPT(ev)
		if !ok || !slices.Equal(got, []uint8{1, 2, 3}) {
			t.Errorf("DTMF 123 from the demo page: bob got events %v in %d telephone-event packets (payload type %d, negotiated %v), want 1, 2 and 3", got, n, ev, ok)
		}
		t.Logf("DTMF 123 from the demo page: bob got events %v in %d telephone-event packets (payload type %d)", got, n, ev)
		run.checkDeleted(t, c.ID)
	})

	// The demo page answers a phone's call, with the offer in the INVITE
	// and (late) in the page's 200 OK.
	for _, tc := range []struct {
		name, caller, callee string
		late                 bool
	}{{"browser-answers", "dave", "carol", false}, {"browser-answers-late-offer", "frank", "erin", true}} {
		t.Run(tc.name, func(t *testing.T) {
			caller := registeredPhone(t, phone.Config{User: tc.caller, Proxy: mustAddrPort(runSIP), Domain: "127.0.0.1", Late: tc.late})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			called := alongside(ctx, t, tc.caller+"'s call", func(ctx context.Context) (*phone.Call, error) {
				for !registered(ctx, tc.callee) {
					select {
					case <-ctx.Done():
						return nil, nil // the page's failure says why
					case <-time.After(100 * time.Millisecond):
					}
				}
				return caller.Call(ctx, tc.callee)
			})
			res := runPage(ctx, t, "https://"+runDemo+"/?user="+tc.callee+"&answer", "drive-demo.mjs")
			c := called()
			if c == nil {
				t.FailNow()
			}
			checkBrowserPhoneAudio(t, res, c)
			waitEnded(t, c)
			run.checkDeleted(t, c.ID)
		})
	}

	t.Run("https", func(t *testing.T) {
		pem, err := os.ReadFile(filepath.Join(bin, "run", "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			t.Fatal("run/cert.pem holds no certificate")
		}
		tc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		web := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		for path, want := range map[string]string{
			"/":             `src="/jssip.min.js"`,
			"/config.json":  `"ws":"wss://` + runWSS + `"`,
			"/jssip.min.js": "JsSIP",
		} {
			body, err := httpGet(web, "https://"+runDemo+path)
			if err != nil || !strings.Contains(body, want) {
				t.Errorf("GET %s: %v; want %q in %.200q", path, err, want, body)
			}
		}
		if err := wsUpgrade(web, runWSS); err != nil {
			t.Errorf("WSS %s: %v", runWSS, err)
		}
		c, err := tls.Dial("tcp", runTLS, tc)
		if err != nil {
			t.Errorf("TLS %s: %v", runTLS, err)
		} else {
			c.Close()
		}
	})

	run.interrupt(t)
}

// checkDeleted: the proxy deleted the call at the media daemon. The
// defaults keep a deleted call for rtpengine's delete-delay (30 s), so the
// daemon's log tells.
func (r *runScript) checkDeleted(t *testing.T, callID string) {
	t.Helper()
	deleted := "delete scheduled\" component=call call-id=" + callID + " "
	if r.media == "rtpengine" {
		deleted = "[" + callID + "]: [core] Scheduling deletion of "
	}
	if !eventually(3*time.Second, func() bool { return strings.Contains(r.out.String(), deleted) }) {
		t.Errorf("%s did not log the call's delete after the BYE (%q)", r.media, deleted)
	}
}

// runScript is scripts/run.sh running in its own process group.
type runScript struct {
	cmd    *exec.Cmd
	media  string
	out    logbuf.Buffer // what the script and the daemons printed
	exited chan struct{}
}

// startRunScript starts the script with BIN=bin and MEDIA=media and
// waits until it has printed its instructions.
func startRunScript(t *testing.T, script, bin, media string) *runScript {
	t.Helper()
	r := &runScript{cmd: exec.Command(script), media: media, exited: make(chan struct{})}
	r.cmd.Dir = filepath.Dir(script)
	r.cmd.Env = append(os.Environ(), "BIN="+bin, "MEDIA="+media)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	r.cmd.Stdout, r.cmd.Stderr = pw, pw
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := r.cmd.Process.Pid
	greeted := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r.out.Write([]byte(sc.Text() + "\n"))
			if sc.Text() == runGreet {
				close(greeted)
			}
		}
		// Keep draining after a too long line: a full pipe would block
		// the daemons' logging.
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = r.cmd.Wait()
		pw.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		// Whatever is left, in the group or not (a daemon that
		// escaped it would hold the script's output pipe: WaitDelay).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		for _, p := range namespaceProcs(t) {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
		<-r.exited
		if t.Failed() {
			t.Logf("run.sh and the daemons said:\n%s", r.out.String())
		}
	})
	select {
	case <-greeted:
	case <-r.exited:
		t.Fatalf("run.sh ended before printing its instructions:\n%s", r.out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("run.sh printed no instructions in 90 s:\n%s", r.out.String())
	}
	return r
}

// interrupt sends SIGINT to the script's process group, as Ctrl-C in a
// terminal does, and checks that everything stops.
func (r *runScript) interrupt(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("run.sh still runs 15 s after Ctrl-C")
	}
	if !eventually(5*time.Second, func() bool { return len(namespaceProcs(t)) == 0 }) {
		t.Fatalf("processes left after Ctrl-C: %v\n%s", namespaceProcs(t), r.out.String())
	}
}

// namespaceProcs lists the processes, other than this one, in this
// process's network namespace: the test's own (Enter made it), so every
// one of them was started by the test.
func namespaceProcs(t *testing.T) []browsertest.Proc {
	t.Helper()
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return browsertest.NetnsProcs(self)
}

// registered reports whether sipproxy's management API (its default
// address) lists a binding of aor (the user part: one domain).
func registered(ctx context.Context, aor string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+runMgmt+"/registrations", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	var bindings []struct{ AOR string }
	if err := json.NewDecoder(res.Body).Decode(&bindings); err != nil {
		return false
	}
	return slices.ContainsFunc(bindings, func(b struct{ AOR string }) bool { return b.AOR == aor })
}

func httpGet(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = errors.New(res.Status)
	}
	return string(b), err
}

// wsUpgrade opens a WebSocket over TLS to addr asking for the sip
// subprotocol (RFC 7118); anything but an upgrade with "sip" fails.
func wsUpgrade(web *http.Client, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+addr, &websocket.DialOptions{HTTPClient: web, Subprotocols: []string{"sip"}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if c.Subprotocol() != "sip" {
		return fmt.Errorf("upgraded with subprotocol %q", c.Subprotocol())
	}
	return nil
}
