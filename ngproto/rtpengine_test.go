package ngproto

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

const rtpengineBin = "/usr/bin/rtpengine"

// startRtpengine runs Debian's rtpengine on loopback for the test and
// returns its NG address.
func startRtpengine(t *testing.T) string {
	t.Helper()
	ng, _ := runRtpengine(t)
	return ng
}

// runRtpengine starts Debian's rtpengine with extra options and returns
// its NG address and a function that stops it (run at cleanup too).
func runRtpengine(t *testing.T, extra ...string) (ng string, stop func()) {
	t.Helper()
	if _, err := os.Stat(rtpengineBin); err != nil {
		t.Skipf("skipping: %s not installed (%v)", rtpengineBin, err)
	}
	ng = fmt.Sprintf("127.0.0.1:%d", testport.Get(t))
	cli := fmt.Sprintf("127.0.0.1:%d", testport.Get(t))
	cmd := exec.Command(rtpengineBin, append([]string{"--config-file=none", "-t", "-1", "-i", "127.0.0.1",
		"-n", ng, "-c", cli, "-f", "-E", "-L", "3", "--delete-delay=0"}, extra...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("skipping: cannot start rtpengine: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("rtpengine output:\n%s", out.String())
			}
		})
	}
	t.Cleanup(stop)
	return ng, stop
}

func TestRealRtpengine(t *testing.T) {
	ng := startRtpengine(t)
	c, err := Dial(ng, ClientConfig{Retries: 5, Interval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	// wait until it listens
	for i := 0; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := c.Ping(pctx)
		cancel()
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("rtpengine never answered ping: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sdp := "v=0\r\no=- 1545997027 1 IN IP4 198.51.100.1\r\ns=tester\r\nt=0 0\r\n" +
		"m=audio 2000 RTP/AVP 0 8\r\nc=IN IP4 198.51.100.1\r\na=sendrecv\r\n"
	offer, err := ParseFlagString("RTP/AVP replace-session-connection replace-origin ICE=remove", OpenSIPS)
	if err != nil {
		t.Fatal(err)
	}
	offer["command"], offer["call-id"], offer["from-tag"], offer["sdp"] = "offer", "ngproto-test", "ft", sdp
	r, err := c.Do(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result() != "ok" || !strings.Contains(r.Str("sdp"), "m=audio ") || !strings.Contains(r.Str("sdp"), "c=IN IP4 127.0.0.1") {
		t.Fatalf("offer reply: %v", r)
	}
	answerSDP := strings.ReplaceAll(sdp, "198.51.100.1", "198.51.100.2")
	r, err = c.Do(ctx, Dict{"command": "answer", "call-id": "ngproto-test", "from-tag": "ft", "to-tag": "tt", "sdp": answerSDP})
	if err != nil || r.Result() != "ok" || r.Str("sdp") == "" {
		t.Fatalf("answer: %v %v", r, err)
	}
	r, err = c.Do(ctx, Dict{"command": "delete", "call-id": "ngproto-test", "from-tag": "ft"})
	if err != nil || r.Result() != "ok" {
		t.Fatalf("delete: %v %v", r, err)
	}
	// rtpengine's exact error strings come back as replies, not errors
	r, err = c.Do(ctx, Dict{"command": "answer", "call-id": "nope", "from-tag": "ft", "to-tag": "tt", "sdp": answerSDP})
	if err != nil || r.ReplyError() != Reason(ErrUnknownCallID) {
		t.Fatalf("unknown call answer: %v %v", r, err)
	}
	r, err = c.Do(ctx, Dict{"command": "delete", "call-id": "nope"})
	if err != nil || r.Result() != "ok" || r.Str("warning") != WarningCallNotFound {
		t.Fatalf("unknown call delete: %v %v", r, err)
	}
	r, err = c.Do(ctx, Dict{"callid": "x"})
	if err != nil || r.ReplyError() != Reason(ErrNoCommand) {
		t.Fatalf("no command: %v %v", r, err)
	}
}

// TestServerAgainstRtpengineErrors sends the same bad datagrams to
// rtpengine and to Server and compares the replies.
func TestServerAgainstRtpengineErrors(t *testing.T) {
	ng := startRtpengine(t)
	srv := &Server{Handler: echoHandler("x")}
	ours := startServer(t, srv, "127.0.0.1:0")
	theirs := rawSocket(t, ng)
	mine := rawSocket(t, ours.LocalAddr().String())
	// wait for rtpengine
	for i := 0; ; i++ {
		_, _ = theirs.Write([]byte("w d7:command4:pinge"))
		_ = theirs.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 100)
		if n, err := theirs.Read(buf); err == nil && string(buf[:n]) == "w d6:result4:ponge" {
			break
		}
		if i > 50 {
			t.Fatal("rtpengine never answered")
		}
		time.Sleep(50 * time.Millisecond) // ECONNREFUSED returns at once
	}
	for i, in := range []string{
		"e1 ", "e2 x", "e3 d", "e4 d3:foo", "e5 di1ei2ee", "e6 d1:ai05ee", "e7 d1:a05:helloe",
		"e8 d3:foo99999:x", `e9 {"command":`, `f1 {"command":"ping"} x`, `f2 {"command":"ping","x":null}`,
		`f3 {"command":"ping","x":1.5}`, `f4 {"command":5}`, "f5 d7:command4:pingegarbage", "f6 d7:command4:ping5:flagsl",
		"f7 d7:command4:ping1:ai+5ee", "f8 d7:command4:ping1:ai-0ee", `f9 {"command":"ping"}  `,
		"g1 d7:command4:ping1:ai99999999999999999999ee", "g2 d7:command4:ping1:ai 5ee", "g3 d7:command4:ping1:ai ee", "g4 d7:command4:ping1:ai05ee",
	} {
		_, _ = theirs.Write([]byte(in))
		_, _ = mine.Write([]byte(in))
		want, got := readReplyFor(t, theirs, cookieOf(in)), readReply(t, mine)
		w, errW := DecodeMessage([]byte(want))
		g, errG := DecodeMessage([]byte(got))
		if errW != nil || errG != nil || cookieOf(want) != cookieOf(got) || w.Encoding != g.Encoding ||
			w.Body.ReplyError() != g.Body.ReplyError() || w.Body.Result() != g.Body.Result() {
			t.Errorf("%d %q: rtpengine %q, ours %q", i, in, want, got)
		}
	}
}
