package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// writeMulawWAV writes seconds of mu-law silence as a WAV file (sipp's
// rtp_stream input).
func writeMulawWAV(t *testing.T, path string, seconds int) {
	t.Helper()
	data := bytes.Repeat([]byte{0xff}, 8000*seconds)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(4 + 8 + 18 + 8 + len(data)))
	b.WriteString("WAVEfmt ")
	w(uint32(18))
	w(uint16(7)) // WAVE_FORMAT_MULAW
	w(uint16(1)) // mono
	w(uint32(8000))
	w(uint32(8000)) // byte rate
	w(uint16(1))    // block align
	w(uint16(8))    // bits per sample
	w(uint16(0))    // cbSize
	b.WriteString("data")
	w(uint32(len(data)))
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sippScenario fills a testdata/sipp scenario's {{KEY}} placeholders into
// a temp file.
func sippScenario(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCallsSippToPhone: sipp (UAC over UDP and TCP, RTP from a WAV
// file, echoing what it receives) calls bob, a Go phone registered at
// sipproxy over UDP; media goes through mediad both ways. Checked: bob
// receives sipp's stream and its own packets echoed back by sipp (so sipp
// received them), mediad's NG counters for the call, and no call left in
// mediad after the BYE. (Debian's sipp is built without OpenSSL: the TLS
// phone is the Go one, in TestCallsPhoneToPhone.)
func TestCallsSippToPhone(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("skipping: sipp not installed")
	}
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	px := startProxy(t, []string{opts.NG})
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			bob := newPhone(t, px, "bob-"+tp, false)
			sippCallsPhone(t, sippCaller{transport: tp, ip: "127.0.0.1", proxy: px.UDP.String()}, bob, opts.NG)
		})
	}
}

// sippCaller says how sipp calls: over transport (udp or tcp), from ip
// (its SDP's address too), to the proxy at proxy, run under wrap (e.g.
// ip netns exec NS) if set.
type sippCaller struct {
	transport, ip, proxy string
	wrap                 []string
	idle                 time.Duration // phoneCallsSipp: wait this long between sipp's REGISTER and the call
}

// command is sipp, as sc says, on SIP port sipPort for one call with args
// (the scenario and its options), run in dir; ctx ends it.
func (sc sippCaller) command(ctx context.Context, dir string, sipPort int, args ...string) *exec.Cmd {
	a := append(slices.Clone(sc.wrap), "sipp", "-i", sc.ip, "-p", strconv.Itoa(sipPort), "-m", "1",
		"-timeout", "20s", "-timeout_error", "-trace_err")
	if sc.transport == "tcp" {
		a = append(a, "-t", "t1")
	}
	cmd := exec.CommandContext(ctx, a[0], append(a[1:], args...)...)
	cmd.Dir = dir
	return cmd
}

// sippRegistersAndAnswers registers sipp as user (as sc says) and starts
// it as a UAS on the registering port, which answers one call, streams
// RTP from a WAV file and echoes what it receives.
func sippRegistersAndAnswers(t *testing.T, ctx context.Context, sc sippCaller, user string) (*bytes.Buffer, <-chan error) {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "silence.wav")
	writeMulawWAV(t, wav, 2)
	sipPort, mediaPort := testport.Get(t), testport.Get(t)
	// The UAS takes over the registering socket's port, so calls come
	// the way the REGISTER went (through a NAT: its mapping).
	reg := sc.command(ctx, dir, sipPort, "-sf", sippScenario(t, "register.xml", nil), "-s", user, sc.proxy)
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("sipp REGISTER: %v\n%s", err, out)
	}
	return startSipp(t, sc.command(ctx, dir, sipPort, "-sf", sippScenario(t, "uas_rtp.xml", map[string]string{"WAV": wav}),
		"-mp", strconv.Itoa(mediaPort), "-rtp_echo"))
}

// sippCallsPhone runs one sipp call as sc says to bob, a registered phone,
// with media through the daemon at ng: bob must receive sipp's stream and
// its own packets echoed by sipp, the daemon must count the call's RTP and
// hold no call after sipp's BYE. It returns bob's side of the call, ended,
// and sipp's SIP port.
func sippCallsPhone(t *testing.T, sc sippCaller, bob *phone.Phone, ng string) (*phone.Call, int) {
	dir := t.TempDir()
	wav := filepath.Join(dir, "silence.wav")
	writeMulawWAV(t, wav, 2)
	scen := sippScenario(t, "uac_rtp.xml", map[string]string{"WAV": wav, "HOLD": "3000"})
	sipPort, mediaPort := testport.Get(t), testport.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	user, _, _ := strings.Cut(strings.TrimPrefix(bob.AOR(), "sip:"), "@")
	out, done := startSipp(t, sc.command(ctx, dir, sipPort, "-sf", scen, "-s", user,
		"-mp", strconv.Itoa(mediaPort), "-rtp_echo", sc.proxy))
	c, err := bob.Answer(ctx)
	if err != nil {
		t.Fatalf("bob: %v\nsipp: %s", err, out.String())
	}
	checkSippMedia(t, c, ng)
	waitSipp(t, ctx, done, out)
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("sipp's BYE did not reach bob")
	}
	checkNoCallsLeft(t, ng)
	return c, sipPort
}

// startSipp starts cmd with its output in out; done gets its end.
func startSipp(t *testing.T, cmd *exec.Cmd) (out *bytes.Buffer, done <-chan error) {
	t.Helper()
	out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	return out, ch
}

// waitSipp waits for sipp (started by startSipp) to end well.
func waitSipp(t *testing.T, ctx context.Context, done <-chan error, out *bytes.Buffer) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sipp failed: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", out.String())
	}
}

// checkSippMedia: bob's call c with sipp (which streams a WAV file and
// echoes) carries sipp's stream to bob and bob's own packets back, and
// the daemon at ng counts the call's RTP.
func checkSippMedia(t *testing.T, c *phone.Call, ng string) {
	t.Helper()
	ok := eventually(10*time.Second, func() bool {
		return c.RTP.Received() >= 25 && c.RTP.ReceivedFrom(c.RTP.SSRC) >= 10
	})
	q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": c.ID})
	if !ok {
		t.Fatalf("RTP through the daemon: bob received %d from sipp and %d of its own echoed by sipp (sent %d)",
			c.RTP.Received(), c.RTP.ReceivedFrom(c.RTP.SSRC), c.RTP.Sent())
	}
	if q.Result() != "ok" || rtpTotal(q) < 35 {
		t.Fatalf("the daemon's counters for the call: %q, %d RTP packets: %v", q.Result(), rtpTotal(q), q)
	}
	t.Logf("bob received %d packets from sipp, %d echoed; the daemon counted %d RTP packets",
		c.RTP.Received(), c.RTP.ReceivedFrom(c.RTP.SSRC), rtpTotal(q))
}

// checkNoCallsLeft: the daemon at ng holds no call (soon after a BYE).
func checkNoCallsLeft(t *testing.T, ng string) {
	t.Helper()
	if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
		t.Fatalf("the daemon still holds calls after BYE: %v", ngCalls(t, ng))
	}
}

// phoneCallsSipp registers sipp as user (as sc says) and
// has bob call it: sipp answers, streams RTP from a WAV file and echoes
// what it receives. bob must receive sipp's stream and his own packets
// echoed, the daemon at ng count the call's RTP and hold no call after
// bob's BYE.
func phoneCallsSipp(t *testing.T, sc sippCaller, bob *phone.Phone, user, ng string) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, done := sippRegistersAndAnswers(t, ctx, sc, user)
	if sc.idle > 0 {
		time.Sleep(sc.idle)
	}
	c, err := bob.Call(ctx, user)
	if err != nil {
		t.Fatalf("bob calls sipp: %v\nsipp: %s", err, out.String())
	}
	checkSippMedia(t, c, ng)
	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("bob's BYE: %v\nsipp: %s", err, out.String())
	}
	waitSipp(t, ctx, done, out)
	checkNoCallsLeft(t, ng)
}
