package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// daemonProc is a started media daemon (mediad or rtpengine) on loopback.
type daemonProc struct {
	ng, cli string
	cmd     *exec.Cmd
	client  *ngproto.Client
}

func startDaemon(t *testing.T, ctx context.Context, bin string, extra ...string) *daemonProc {
	t.Helper()
	ngPort, cliPort := testport.Get(t), testport.Get(t)
	d := &daemonProc{ng: fmt.Sprintf("127.0.0.1:%d", ngPort), cli: fmt.Sprintf("127.0.0.1:%d", cliPort)}
	args := append([]string{"--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-n", d.ng, "-c", d.cli, "-f", "-E",
		"-m", "42000", "-M", "42999"}, extra...)
	d.cmd = exec.CommandContext(ctx, bin, args...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); _ = d.cmd.Wait() })
	c, err := ngproto.Dial(d.ng, ngproto.ClientConfig{Retries: 20, Interval: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	d.client = c
	if r, err := c.Do(ctx, ngproto.Dict{"command": "ping"}); err != nil || r.Str("result") != "pong" {
		t.Fatalf("%s ping: %v %v", bin, r, err)
	}
	return d
}

func (d *daemonProc) do(t *testing.T, ctx context.Context, req ngproto.Dict) ngproto.Dict {
	t.Helper()
	r, err := d.client.Do(ctx, req)
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("%v: %v %v", req["command"], r, err)
	}
	return r
}

func (d *daemonProc) ctl(t *testing.T, ctx context.Context, ctlBin string, command string) string {
	t.Helper()
	host, port, _ := strings.Cut(d.cli, ":")
	out, err := exec.CommandContext(ctx, ctlBin, append([]string{"-ip", host, "-port", port}, strings.Fields(command)...)...).Output()
	if err != nil {
		t.Fatalf("rtpengine-ctl %s: %v", command, err)
	}
	return string(out)
}

const offerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 8\r\n"

func placeCall(t *testing.T, ctx context.Context, d *daemonProc, callID string) {
	d.do(t, ctx, ngproto.Dict{"command": "offer", "call-id": callID, "from-tag": "ft1", "via-branch": "vb1", "label": "caller", "sdp": offerSDP})
	d.do(t, ctx, ngproto.Dict{"command": "answer", "call-id": callID, "from-tag": "ft1", "to-tag": "tt1",
		"sdp": strings.Replace(offerSDP, "5000", "6000", 1)})
}

var digits = regexp.MustCompile(`\d+`)

// TestLiveCallsWithRtpengineCtl: Debian's rtpengine-ctl sees and ends
// mediad's live calls, and "list sessions <id>" reads as rtpengine's after
// the same offer/answer (numbers normalised: ports, times, durations).
func TestLiveCallsWithRtpengineCtl(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	ctlBin, err := exec.LookPath("rtpengine-ctl")
	if err != nil {
		t.Skip("rtpengine-ctl not installed (make deps installs rtpengine-utils): ", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := startDaemon(t, ctx, buildBinary(t))
	placeCall(t, ctx, m, "live-1")
	placeCall(t, ctx, m, "live-2")

	if out := m.ctl(t, ctx, ctlBin, "list numsessions"); !strings.HasPrefix(out, "Current sessions own: 2\n") {
		t.Errorf("numsessions: %q", out)
	}
	all := m.ctl(t, ctx, ctlBin, "list sessions all")
	if !strings.Contains(all, "live-1 | deletionmark:  no") || !strings.Contains(all, "live-2 | deletionmark:  no") {
		t.Errorf("sessions all: %q", all)
	}
	detail := m.ctl(t, ctx, ctlBin, "list sessions live-1")
	if rb, err := exec.LookPath("rtpengine"); err == nil {
		r := startDaemon(t, ctx, rb)
		placeCall(t, ctx, r, "live-1")
		want := r.ctl(t, ctx, ctlBin, "list sessions live-1")
		if g, w := digits.ReplaceAllString(detail, "N"), digits.ReplaceAllString(want, "N"); g != w {
			t.Errorf("list sessions <id> differs from rtpengine:\n--- rtpengine\n%s\n--- mediad\n%s", want, detail)
		}
	} else if !strings.Contains(detail, "--- Tag 'ft1', type: FROM_TAG, label 'caller'") {
		t.Errorf("session detail: %q", detail)
	}

	if out := m.ctl(t, ctx, ctlBin, "terminate live-1"); out != "\nCall Id (live-1) successfully terminated by operator.\n\n" {
		t.Errorf("terminate: %q", out)
	}
	if out := m.ctl(t, ctx, ctlBin, "list sessions live-1"); out != "\nCall ID not found (live-1).\n\n" {
		t.Errorf("after terminate: %q", out)
	}
	r, err := m.client.Do(ctx, ngproto.Dict{"command": "query", "call-id": "live-1"})
	if err != nil || r.Str("result") != "error" {
		t.Errorf("query of a terminated call: %v %v", r, err)
	}
	if out := m.ctl(t, ctx, ctlBin, "terminate all"); out != "All calls terminated by operator.\n" {
		t.Errorf("terminate all: %q", out)
	}
	if out := m.ctl(t, ctx, ctlBin, "list sessions all"); out != "No sessions on this media relay.\n" {
		t.Errorf("after terminate all: %q", out)
	}
	// The NG "cli" command reaches the same runner.
	if r := m.do(t, ctx, ngproto.Dict{"command": "cli", "body": "list timeout"}); r.Str("response") != "TIMEOUT=60\n" {
		t.Errorf("NG cli: %v", r)
	}
}
