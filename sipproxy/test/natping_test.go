package test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// register sends a REGISTER for user from u and waits for its 200.
func (u *udpUA) register(p *proxy, user string) {
	u.t.Helper()
	u.send(p.addr(), fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 10.0.0.9:5060;rport;branch=z9hG4bK-np%s\r\n"+
		"From: <sip:%s@%s>;tag=f1\r\nTo: <sip:%s@%s>\r\n"+
		"Call-ID: natping-%s@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@10.0.0.9:5060>\r\n"+
		"Max-Forwards: 70\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
		p.addr(), user, user, p.addr(), user, p.addr(), user, user))
	u.read("SIP/2.0 200")
}

// next returns the next datagram from the proxy, or nil after wait.
func (u *udpUA) next(wait time.Duration) []byte {
	buf := make([]byte, 8192)
	_ = u.c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := u.c.ReadFrom(buf)
	if err != nil {
		return nil
	}
	return bytes.Clone(buf[:n])
}

// answer replies 200 to an OPTIONS as a phone would.
func (u *udpUA) answer(p *proxy, req []byte) {
	u.t.Helper()
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		for _, v := range headers(req, h) {
			if h == "To" {
				v += ";tag=ok"
			}
			b.WriteString(h + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	u.send(p.addr(), b.String())
}

// TestNATPingKeepalive: with --natping-interval, a UDP registration gets
// nathelper's 4-byte keepalive from the proxy's listener every interval.
func TestNATPingKeepalive(t *testing.T) {
	p := startProxy(t, "--natping-interval=1s")
	u := newUDPUA(t)
	u.register(p, "kept")
	for i := 0; i < 2; i++ {
		got := u.next(2500 * time.Millisecond)
		if !bytes.Equal(got, []byte{0, 0, 0, 0}) {
			t.Fatalf("ping %d: got %q, want four zero bytes", i+1, got)
		}
	}
	// The proxy counts a ping once its write returned: the datagram
	// may be here first.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := p.counters()
		if err == nil && c["natping_sent"] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters %v (%v): want natping_sent >= 2", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATPingOptions: with --sipping every UDP contact gets OPTIONS
// (Request-URI and To its contact, From --sipping-from); with
// --natping-timeout a contact that answers none for that long is
// removed, one that answers stays.
func TestNATPingOptions(t *testing.T) {
	p := startProxy(t, "--natping-interval=1s", "--sipping", "--sipping-from=sip:keepalive@proxy.test", "--natping-timeout=3s")
	answers, silent := newUDPUA(t), newUDPUA(t)
	answers.register(p, "answers")
	silent.register(p, "silent")
	contact := p.registrations(t, "answers")[0].Contact
	deadline := time.Now().Add(5 * time.Second)
	pings := 0
	for time.Now().Before(deadline) {
		req := answers.next(time.Until(deadline))
		if req == nil {
			break
		}
		if !bytes.HasPrefix(req, []byte("OPTIONS ")) {
			t.Fatalf("want OPTIONS, got %q", req)
		}
		pings++
		line, _, _ := strings.Cut(string(req), "\r\n")
		if want := "OPTIONS " + strings.Trim(contact, "<>") + " SIP/2.0"; line != want {
			t.Errorf("request line %q, want %q", line, want)
		}
		if to := headers(req, "To"); len(to) != 1 || !strings.Contains(to[0], strings.Trim(contact, "<>")) {
			t.Errorf("To %q, want the contact %s", to, contact)
		}
		if from := headers(req, "From"); len(from) != 1 || !strings.Contains(from[0], "sip:keepalive@proxy.test") || !strings.Contains(from[0], "tag=") {
			t.Errorf("From %q, want sip:keepalive@proxy.test with a tag", from)
		}
		answers.answer(p, req)
	}
	if pings < 3 {
		t.Fatalf("%d pings in 5 s at a 1 s interval", pings)
	}
	p.waitRegistered(t, "silent", 0) // removed about 4 s after its REGISTER
	if rs := p.registrations(t, "answers"); len(rs) != 1 {
		t.Fatalf("the answering contact is gone: %+v", rs)
	}
	c, err := p.counters()
	if err != nil || c["natping_removed"] != 1 || c["natping_answered"] < 3 {
		t.Fatalf("counters %v (%v): want natping_removed 1, natping_answered >= 3", c, err)
	}
	if !strings.Contains(p.log.String(), "natping: contact removed") {
		t.Fatalf("the removal is not logged:\n%s", p.log.String())
	}
}

// TestSippNATPing: sipp's own SIP stack (-aa) parses the OPTIONS pings and
// answers them, and the proxy takes the answers as its own (none is
// relayed on as a stray reply).
func TestSippNATPing(t *testing.T) {
	needSipp(t)
	p := startProxy(t, "--natping-interval=1s", "--sipping", "--natping-timeout=2s")
	runSipp(t, "register_pings.xml", "udp", p.addr(), map[string]string{"user": "sippng", "aa": ""})
	c, err := p.counters()
	if err != nil || c["natping_answered"] < 2 || c["natping_removed"] != 0 {
		t.Fatalf("counters %v (%v): want natping_answered >= 2, natping_removed 0", c, err)
	}
}
