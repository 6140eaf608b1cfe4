package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
	"sipmedia/sipproxy/internal/media/mediacfg"
	"sipmedia/sipproxy/internal/router"
)

const phoneSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"

// browserSDP is what Chromium offers, trimmed to audio.
const browserSDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n" +
	"m=audio %d UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 127.0.0.1\r\na=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=candidate:1 1 udp 2122260223 127.0.0.1 %d typ host generation 0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"

type msgSpec struct {
	method, fromTag, toTag, callID, via, body, source string
	transport                                         string
	cseq                                              int // default 1
}

func invite(t *testing.T, s msgSpec) *sip.Request {
	t.Helper()
	if s.method == "" {
		s.method = "INVITE"
	}
	tp := s.transport
	if tp == "" {
		tp = "UDP"
	}
	to := "<sip:bob@127.0.0.1>"
	if s.toTag != "" {
		to += ";tag=" + s.toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:bob@127.0.0.1 SIP/2.0\r\n", s.method)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%s\r\n", s.via)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s 127.0.0.1:5070;branch=z9hG4bKcaller;rport\r\n", tp)
	fmt.Fprintf(&b, "From: <sip:alice@127.0.0.1>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", s.fromTag, to, s.callID, max(s.cseq, 1), s.method)
	b.WriteString("Max-Forwards: 70\r\nContact: <sip:x@127.0.0.1:5070>\r\n")
	if s.body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(s.body), s.body)
	m, err := sip.ParseMessage([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse request: %v", err)
	}
	req := m.(*sip.Request)
	src := s.source
	if src == "" {
		src = "127.0.0.1:5070"
	}
	req.SetSource(src)
	return req
}

func reply(t *testing.T, inv *sip.Request, code int, toTag, body string) *sip.Response {
	t.Helper()
	res := sip.NewResponseFromRequest(inv, code, "OK", nil)
	res.To().Params.Add("tag", toTag)
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	}
	res.SetSource("127.0.0.1:5080")
	return res
}

func newDriver(t *testing.T, addrs ...string) (*Driver, *ngproto.Pool) {
	t.Helper()
	var bs []ngproto.Backend
	for _, a := range addrs {
		bs = append(bs, ngproto.Backend{Addr: a, Weight: 1})
	}
	pool, err := ngproto.NewPool(bs, ngproto.PoolConfig{
		Client:       ngproto.ClientConfig{Retries: 2, Interval: 300 * time.Millisecond},
		PingInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	d, err := New(pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return d, pool
}

// query asks the daemon about a call; nil when it does not know it.
func query(t *testing.T, addr, callID string) ngproto.Dict {
	t.Helper()
	c, err := ngproto.Dial(addr, ngproto.ClientConfig{Retries: 2, Interval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(context.Background(), ngproto.Dict{"command": "query", "call-id": callID})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if r.Result() != "ok" {
		return nil
	}
	return r
}

func tagsOf(q ngproto.Dict) []string {
	var out []string
	for k := range q.Sub("tags") {
		out = append(out, k)
	}
	return out
}

func mediaPort(t *testing.T, sdp string) int {
	t.Helper()
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "m=audio ") {
			p, _ := strconv.Atoi(strings.Fields(l)[1])
			return p
		}
	}
	t.Fatalf("no m=audio in %q", sdp)
	return 0
}

func forEachDaemon(t *testing.T, f func(t *testing.T, ng string)) {
	for _, kind := range []string{"mediad", "rtpengine"} {
		t.Run(kind, func(t *testing.T) { f(t, startDaemon(t, kind)) })
	}
}

// skipIfNoWebRTC skips a mediad subtest whose daemon does not yet put
// DTLS-SRTP into its SDP (the WebRTC integration of mediad's call model),
// saying so; rtpengine must always pass.
func skipIfNoWebRTC(t *testing.T, sdp string) {
	t.Helper()
	if strings.HasSuffix(t.Name(), "/mediad") && !strings.Contains(sdp, "UDP/TLS/RTP/SAVPF") {
		t.Skip("skipping: mediad does not yet answer a browser with UDP/TLS/RTP/SAVPF (WebRTC not integrated into its call model)")
	}
}

func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("goroutines: %d before, %d after", before, n)
		}
	})
}

func TestEarlyOfferCall(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		checkGoroutines(t)
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		inv := invite(t, msgSpec{fromTag: "a1", callID: "early-1", via: "b1", body: fmt.Sprintf(phoneSDP, 7000)})
		if err := d.Offer(ctx, inv, router.Flags{}); err != nil {
			t.Fatalf("offer: %v", err)
		}
		out := string(inv.Body())
		if p := mediaPort(t, out); p == 7000 {
			t.Fatalf("offer SDP not rewritten:\n%s", out)
		}
		if inv.ContentLength() == nil || int(*inv.ContentLength()) != len(out) {
			t.Fatalf("Content-Length not updated")
		}
		res := reply(t, inv, 200, "b1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, inv, res, router.Flags{}); err != nil {
			t.Fatalf("answer: %v", err)
		}
		if p := mediaPort(t, string(res.Body())); p == 8000 {
			t.Fatalf("answer SDP not rewritten")
		}
		q := query(t, ng, "early-1")
		if q == nil {
			t.Fatal("daemon does not know the call")
		}
		if tags := tagsOf(q); len(tags) != 2 {
			t.Fatalf("tags %v, want a1 and b1", tags)
		}
		bye := invite(t, msgSpec{method: "BYE", fromTag: "b1", toTag: "a1", callID: "early-1", via: "b2"})
		if err := d.Delete(ctx, bye); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if q := query(t, ng, "early-1"); q != nil {
			t.Fatalf("call still there after delete: %v", q)
		}
		if d.Dialogs() != 0 {
			t.Fatalf("dialog memory not released")
		}
	})
}

func TestLateOfferCall(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		inv := invite(t, msgSpec{fromTag: "a1", callID: "late-1", via: "b1"})
		res := reply(t, inv, 200, "b1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, inv, res, router.Flags{}); err != nil {
			t.Fatalf("late offer: %v", err)
		}
		if p := mediaPort(t, string(res.Body())); p == 8000 {
			t.Fatalf("late offer SDP not rewritten")
		}
		q := query(t, ng, "late-1")
		if q == nil {
			t.Fatal("no call after the late offer")
		}
		// The offerer is the callee: its tag is the one the daemon knows.
		if _, ok := q.Sub("tags")["b1"]; !ok {
			t.Fatalf("late offer not sent with swapped tags: tags %v", tagsOf(q))
		}
		ack := invite(t, msgSpec{method: "ACK", fromTag: "a1", toTag: "b1", callID: "late-1", via: "b3", body: fmt.Sprintf(phoneSDP, 7000)})
		if err := d.Ack(ctx, ack); err != nil {
			t.Fatalf("late answer: %v", err)
		}
		if p := mediaPort(t, string(ack.Body())); p == 7000 {
			t.Fatalf("ACK SDP not rewritten")
		}
		q = query(t, ng, "late-1")
		if tags := tagsOf(q); len(tags) != 2 {
			t.Fatalf("tags after ACK %v, want a1 and b1", tags)
		}
		// A second ACK (retransmission of the 2xx's ACK) is not an answer
		// any more.
		ack2 := invite(t, msgSpec{method: "ACK", fromTag: "a1", toTag: "b1", callID: "late-1", via: "b4", body: fmt.Sprintf(phoneSDP, 7000)})
		if err := d.Ack(ctx, ack2); err != nil || string(ack2.Body()) != string(ack.Body()) {
			t.Fatalf("retransmitted ACK not given the first ACK's answer (err %v):\n%s", err, ack2.Body())
		}
		if n := d.Counter.LateAnswers.Load(); n != 1 {
			t.Fatalf("%d late answers sent, want 1", n)
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "a1", toTag: "b1", callID: "late-1", via: "b5"})); err != nil {
			t.Fatal(err)
		}
		if query(t, ng, "late-1") != nil {
			t.Fatal("call still there after delete")
		}
	})
}

// A browser (SRC_WS) calls a phone: RTP/AVP without ICE toward the phone,
// DTLS-SRTP with ICE and rtcp-mux back to the browser; then the phone
// re-INVITEs and the remembered orientation gives the browser SAVPF again.
func TestBrowserToPhoneAndReinvite(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		inv := invite(t, msgSpec{fromTag: "w1", callID: "ws-1", via: "b1", transport: "WSS", body: fmt.Sprintf(browserSDP, 9, 50000)})
		f := router.Flags{SrcWS: true}
		if err := d.Offer(ctx, inv, f); err != nil {
			t.Fatalf("offer: %v", err)
		}
		toPhone := string(inv.Body())
		for _, bad := range []string{"a=ice-ufrag", "SAVPF", "a=fingerprint"} {
			if strings.Contains(toPhone, bad) {
				t.Errorf("offer toward the phone has %q:\n%s", bad, toPhone)
			}
		}
		if !strings.Contains(toPhone, "RTP/AVP") {
			t.Errorf("offer toward the phone is not RTP/AVP:\n%s", toPhone)
		}
		res := reply(t, inv, 200, "p1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, inv, res, f); err != nil {
			t.Fatalf("answer: %v", err)
		}
		toWeb := string(res.Body())
		skipIfNoWebRTC(t, toWeb)
		for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=rtcp-mux", "a=ice-ufrag", "a=fingerprint"} {
			if !strings.Contains(toWeb, want) {
				t.Errorf("answer toward the browser lacks %q:\n%s", want, toWeb)
			}
		}
		// re-INVITE from the phone: in-dialog, the router has no flags.
		re := invite(t, msgSpec{fromTag: "p1", toTag: "w1", callID: "ws-1", via: "b9", body: fmt.Sprintf(strings.Replace(phoneSDP, "1 1 IN", "1 2 IN", 1), 8000)})
		if err := d.Offer(ctx, re, router.Flags{}); err != nil {
			t.Fatalf("re-INVITE offer: %v", err)
		}
		if !strings.Contains(string(re.Body()), "UDP/TLS/RTP/SAVPF") {
			t.Errorf("re-INVITE toward the browser is not SAVPF:\n%s", re.Body())
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "w1", toTag: "p1", callID: "ws-1", via: "b5"})); err != nil {
			t.Fatal(err)
		}
	})
}

// No daemon answers: the offer fails with a 5xx status, and the cleanup of
// the failed INVITE sends nothing (it would only wait for the dead daemon).
func TestNoDaemon(t *testing.T) {
	checkGoroutines(t)
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Get(t)))
	d, pool := newDriver(t, dead)
	ctx := context.Background()
	inv := invite(t, msgSpec{fromTag: "a1", callID: "dead-1", via: "b1", body: fmt.Sprintf(phoneSDP, 7000)})
	err := d.Offer(ctx, inv, router.Flags{})
	var me *Error
	if !errors.As(err, &me) || me.Code/100 != 5 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("offer error %v, want a 5xx *Error wrapping ErrUnavailable", err)
	}
	if mediaPort(t, string(inv.Body())) != 7000 {
		t.Fatal("body changed although the offer failed")
	}
	counting := &countingNG{NG: pool}
	d.ng = counting
	if err := d.Delete(ctx, inv); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if counting.n != 0 {
		t.Fatalf("cleanup of a call without media sent %d requests to the dead daemon", counting.n)
	}
	if _, ok := pool.BackendFor("dead-1"); ok || d.Dialogs() != 0 {
		t.Fatal("state left behind by a failed offer")
	}
}

// A dead backend next to a live one: the offer fails over and the whole
// call stays on the live one.
func TestFailover(t *testing.T) {
	ng := startDaemon(t, "mediad")
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Get(t)))
	// The dead backend weighs 1000:1, so the first new call tries it
	// first (all but surely) and must fail over.
	pool, err := ngproto.NewPool([]ngproto.Backend{{Addr: dead, Weight: 1000}, {Addr: ng, Weight: 1}}, ngproto.PoolConfig{
		Client: ngproto.ClientConfig{Retries: 2, Interval: 300 * time.Millisecond}, PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	d, err := New(pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		id := "fo-" + strconv.Itoa(i)
		inv := invite(t, msgSpec{fromTag: "a1", callID: id, via: "b1", body: fmt.Sprintf(phoneSDP, 7000)})
		if err := d.Offer(ctx, inv, router.Flags{}); err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
		if b, _ := pool.BackendFor(id); b != ng {
			t.Fatalf("call %d on %q, want %s", i, b, ng)
		}
		res := reply(t, inv, 200, "b1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, inv, res, router.Flags{}); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "a1", toTag: "b1", callID: id, via: "b2"})); err != nil {
			t.Fatal(err)
		}
	}
	if pool.Alive(dead) {
		t.Fatal("dead backend still considered alive")
	}
}

// A failed re-INVITE keeps the call; a failed initial INVITE removes it.
func TestDeleteOnFailure(t *testing.T) {
	ng := startDaemon(t, "mediad")
	d, _ := newDriver(t, ng)
	ctx := context.Background()
	inv := invite(t, msgSpec{fromTag: "a1", callID: "fail-1", via: "b1", body: fmt.Sprintf(phoneSDP, 7000)})
	if err := d.Offer(ctx, inv, router.Flags{}); err != nil {
		t.Fatal(err)
	}
	re := invite(t, msgSpec{fromTag: "a1", toTag: "b1", callID: "fail-1", via: "b2"})
	if err := d.Delete(ctx, re); err != nil || query(t, ng, "fail-1") == nil {
		t.Fatalf("a failed re-INVITE removed the call (err %v)", err)
	}
	if err := d.Delete(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if query(t, ng, "fail-1") != nil {
		t.Fatal("failed INVITE left the call on the daemon")
	}
}

func TestRequestKeys(t *testing.T) {
	d, err := New(nopNG{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ng := d.request("offer", d.flags.Offer[1][0], "c", "f", "", []byte("sdp"), "[::1]:5060")
	rf, _ := ng["received-from"].([]any)
	if len(rf) != 2 || rf[0] != "IP6" || rf[1] != "::1" {
		t.Fatalf("received-from %v", ng["received-from"])
	}
	if ng.Str("transport-protocol") != "RTP/AVP" || ng.Str("ICE") != "remove" {
		t.Fatalf("flags not applied: %v", ng)
	}
	if mux := ng.List("rtcp-mux"); len(mux) != 1 || mux[0] != "demux" {
		t.Fatalf("rtcp-mux %v, want [demux]", mux)
	}
	if ng.Has("to-tag") {
		t.Fatal("empty to-tag sent")
	}
	if mux := d.flags.Answer[1][0].List("rtcp-mux"); len(mux) != 1 || mux[0] != "require" {
		t.Fatalf("answer toward the browser: rtcp-mux %v, want [require]", mux)
	}
}

// countingNG counts the requests that reach the pool.
type countingNG struct {
	NG
	n int
}

func (c *countingNG) Do(ctx context.Context, req ngproto.Dict) (ngproto.Dict, error) {
	c.n++
	return c.NG.Do(ctx, req)
}

type nopNG struct{}

func (nopNG) Do(context.Context, ngproto.Dict) (ngproto.Dict, error) { return nil, errors.New("nop") }
func (nopNG) BackendFor(string) (string, bool)                       { return "", false }
func (nopNG) AnyAlive() bool                                         { return false }

func TestParseSock(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ngproto.Backend
		bad  bool
	}{
		{in: "udp:127.0.0.1:2223", want: ngproto.Backend{Addr: "127.0.0.1:2223", Weight: 1}},
		{in: "udp:127.0.0.1:2223=5", want: ngproto.Backend{Addr: "127.0.0.1:2223", Weight: 5}},
		{in: "127.0.0.1:2223", want: ngproto.Backend{Addr: "127.0.0.1:2223", Weight: 1}},
		{in: "udp:[::1]:2223=2", want: ngproto.Backend{Addr: "[::1]:2223", Weight: 2}},
		{in: "udp:127.0.0.1:2223=0", bad: true},
		{in: "udp6:[::1]:2223", want: ngproto.Backend{Addr: "[::1]:2223", Weight: 1}},
		{in: "UDP:localhost:2223=3", want: ngproto.Backend{Addr: "127.0.0.1:2223", Weight: 3}},
		{in: "udp6:127.0.0.1:2223", bad: true},
		{in: "tcp:127.0.0.1:2223", bad: true},
		{in: "unix:/run/rtpengine.sock", bad: true},
		{in: "udp:127.0.0.1", bad: true},
		{in: "udp:127.0.0.1:99999", bad: true},
		{in: "ws://127.0.0.1:8080/", want: ngproto.Backend{Addr: "ws://127.0.0.1:8080/", Weight: 1}},
		{in: "wss://media.example.com/ng=3", want: ngproto.Backend{Addr: "wss://media.example.com/ng", Weight: 3}},
		{in: "ws:127.0.0.1:8080", bad: true},
		{in: "ws://:8080/", bad: true},
		{in: "ws://u:p@127.0.0.1:8080/", bad: true},
		{in: "ws://127.0.0.1:0/", bad: true},
	} {
		got, err := mediacfg.ParseSock(c.in)
		if c.bad != (err != nil) || !c.bad && got != c.want {
			t.Errorf("ParseSock(%q) = %v, %v", c.in, got, err)
		}
	}
}

func TestBadMatrix(t *testing.T) {
	m := mediacfg.DefaultMatrix()
	m.Offer[0][1] = "in-iface=x"
	if _, err := New(nopNG{}, Config{Matrix: m}); err == nil {
		t.Fatal("bad flag string accepted")
	}
	st := mediacfg.DefaultSettings()
	st.Socks = []string{"udp:nowhere"}
	if st.Validate() == nil {
		t.Fatal("bad socket accepted")
	}
}

// A forked INVITE: each branch's offer carries its own Via branch, so the
// daemon gives each callee a party (and ports) of its own; the answer of
// the branch that wins is matched to its party.
func TestForkedOffers(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		a, b := offerForked(t, d, "fork-1")
		pa, pb := mediaPort(t, string(a.Body())), mediaPort(t, string(b.Body()))
		if pa == pb {
			t.Fatalf("both branches got port %d: the forks share one party", pa)
		}
		res := reply(t, b, 200, "calleeB", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, b, res, router.Flags{}); err != nil {
			t.Fatalf("answer of branch B: %v", err)
		}
		q := query(t, ng, "fork-1")
		if _, ok := q.Sub("tags")["calleeB"]; !ok {
			t.Fatalf("branch B's answerer not tagged: %v", tagsOf(q))
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "a1", toTag: "calleeB", callID: "fork-1", via: "x"})); err != nil {
			t.Fatal(err)
		}
	})
}

// A forked INVITE whose branch A fails while B answers: DeleteBranch
// drops A's party, so the callee's BYE (its own from-tag) leaves no call;
// without it rtpengine keeps the call for the unanswered branch.
func TestForkedBranchDeleted(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		a, b := offerForked(t, d, "fork-2")
		if err := d.Reply(ctx, b, reply(t, b, 200, "calleeB", fmt.Sprintf(phoneSDP, 8000)), router.Flags{}); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteBranch(ctx, a); err != nil {
			t.Fatalf("delete of branch A: %v", err)
		}
		if q := query(t, ng, "fork-2"); q.Str("result") != "ok" {
			t.Fatalf("the answered call went with branch A: %v", q)
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "calleeB", toTag: "a1", callID: "fork-2", via: "x"})); err != nil {
			t.Fatal(err)
		}
		if q := query(t, ng, "fork-2"); q.Str("result") == "ok" {
			t.Fatalf("call still held after the callee's BYE: %v", tagsOf(q))
		}
	})
}

// offerForked offers caller a1's INVITE of callID on two branches, brA and
// brB, and returns them as rewritten by the daemon.
func offerForked(t *testing.T, d *Driver, callID string) (a, b *sip.Request) {
	t.Helper()
	body := fmt.Sprintf(phoneSDP, 7000)
	a = invite(t, msgSpec{fromTag: "a1", callID: callID, via: "brA", body: body})
	b = invite(t, msgSpec{fromTag: "a1", callID: callID, via: "brB", body: body})
	for _, inv := range []*sip.Request{a, b} {
		if err := d.Offer(context.Background(), inv, router.Flags{}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// UPDATE and PRACK carry SDP through the daemon as INVITE and ACK do: an
// UPDATE's SDP is an offer answered in its 2xx; a PRACK's answers a late
// offer made in a reliable 183, else it is an offer answered in its 2xx.
// Every SDP is rewritten, and the daemon still holds the one call of two
// parties.
func TestUpdateAndPrack(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		d, _ := newDriver(t, ng)
		ctx := context.Background()
		rewritten := func(what string, m sip.Message, port int) {
			t.Helper()
			if p := mediaPort(t, string(m.Body())); p == port {
				t.Fatalf("%s: SDP not rewritten (port %d):\n%s", what, p, m.Body())
			}
		}
		// Late offer in a reliable 183, answered by the PRACK.
		inv := invite(t, msgSpec{fromTag: "a1", callID: "prack-1", via: "b1"})
		ringing := reply(t, inv, 183, "b1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, inv, ringing, router.Flags{}); err != nil {
			t.Fatalf("late offer in 183: %v", err)
		}
		rewritten("183", ringing, 8000)
		prack := invite(t, msgSpec{method: "PRACK", fromTag: "a1", toTag: "b1", callID: "prack-1", via: "b2", cseq: 2, body: fmt.Sprintf(phoneSDP, 7000)})
		if err := d.Offer(ctx, prack, router.Flags{}); err != nil {
			t.Fatalf("PRACK answer: %v", err)
		}
		rewritten("PRACK answering the 183", prack, 7000)
		if n := d.Counter.LateAnswers.Load(); n != 1 {
			t.Fatalf("%d late answers, want the PRACK's", n)
		}
		if tags := tagsOf(query(t, ng, "prack-1")); len(tags) != 2 {
			t.Fatalf("tags after the PRACK %v, want a1 and b1", tags)
		}
		// Its 2xx has nothing to answer.
		ok := reply(t, prack, 200, "b1", fmt.Sprintf(phoneSDP, 8000))
		if err := d.Reply(ctx, prack, ok, router.Flags{}); err != nil || mediaPort(t, string(ok.Body())) != 8000 {
			t.Fatalf("2xx of an answering PRACK touched (err %v):\n%s", err, ok.Body())
		}
		// A second PRACK (for the next reliable 18x) with a new offer,
		// answered in its 2xx.
		offers, answers := d.Counter.Offers.Load(), d.Counter.Answers.Load()
		prack2 := invite(t, msgSpec{method: "PRACK", fromTag: "a1", toTag: "b1", callID: "prack-1", via: "b3", cseq: 3, body: fmt.Sprintf(phoneSDP, 7002)})
		if err := d.Offer(ctx, prack2, router.Flags{}); err != nil {
			t.Fatalf("PRACK offer: %v", err)
		}
		rewritten("PRACK offer", prack2, 7002)
		ok2 := reply(t, prack2, 200, "b1", fmt.Sprintf(phoneSDP, 8002))
		if err := d.Reply(ctx, prack2, ok2, router.Flags{}); err != nil {
			t.Fatalf("answer in the PRACK's 2xx: %v", err)
		}
		rewritten("2xx of the PRACK offer", ok2, 8002)
		// The callee updates the session; a 491 or a retransmitted 2xx
		// would not answer twice.
		upd := invite(t, msgSpec{method: "UPDATE", fromTag: "b1", toTag: "a1", callID: "prack-1", via: "b4", cseq: 101, body: fmt.Sprintf(phoneSDP, 8004)})
		if err := d.Offer(ctx, upd, router.Flags{}); err != nil {
			t.Fatalf("UPDATE offer: %v", err)
		}
		rewritten("UPDATE", upd, 8004)
		ok3 := reply(t, upd, 200, "a1", fmt.Sprintf(phoneSDP, 7004))
		if err := d.Reply(ctx, upd, ok3, router.Flags{}); err != nil {
			t.Fatalf("UPDATE answer: %v", err)
		}
		rewritten("2xx of the UPDATE", ok3, 7004)
		if o, a := d.Counter.Offers.Load()-offers, d.Counter.Answers.Load()-answers; o != 2 || a != 2 {
			t.Fatalf("%d offers and %d answers for the PRACK and the UPDATE, want 2 and 2", o, a)
		}
		if tags := tagsOf(query(t, ng, "prack-1")); len(tags) != 2 {
			t.Fatalf("tags after the PRACK and UPDATE offers %v, want a1 and b1", tags)
		}
		if err := d.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "a1", toTag: "b1", callID: "prack-1", via: "b5"})); err != nil {
			t.Fatal(err)
		}
		if query(t, ng, "prack-1") != nil {
			t.Fatal("call still there after delete")
		}
	})
}

// The proxy restarts during a call: a new driver and pool, which never saw
// the offer, still delete the call on the BYE. A CANCEL or a failed INVITE
// of a call it does not know sends nothing.
func TestDeleteAfterRestart(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, ng string) {
		before, _ := newDriver(t, ng)
		ctx := context.Background()
		inv := invite(t, msgSpec{fromTag: "a1", callID: "restart-1", via: "b1", body: fmt.Sprintf(phoneSDP, 7000)})
		if err := before.Offer(ctx, inv, router.Flags{}); err != nil {
			t.Fatal(err)
		}
		if err := before.Reply(ctx, inv, reply(t, inv, 200, "b1", fmt.Sprintf(phoneSDP, 8000)), router.Flags{}); err != nil {
			t.Fatal(err)
		}
		after, pool := newDriver(t, ng)
		counting := &countingNG{NG: pool}
		after.ng = counting
		for _, m := range []string{"CANCEL", "INVITE"} {
			if err := after.Delete(ctx, invite(t, msgSpec{method: m, fromTag: "a1", callID: "restart-1", via: "b1"})); err != nil || counting.n != 0 {
				t.Fatalf("%s of an unknown call: err %v, %d requests sent", m, err, counting.n)
			}
		}
		if err := after.Delete(ctx, invite(t, msgSpec{method: "BYE", fromTag: "b1", toTag: "a1", callID: "restart-1", via: "b2"})); err != nil {
			t.Fatal(err)
		}
		if q := query(t, ng, "restart-1"); q != nil {
			t.Fatalf("call left on the daemon after the BYE through the restarted proxy: %v", tagsOf(q))
		}
	})
}
