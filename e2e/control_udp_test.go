package e2e

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

// legacyCtl sends rtpproxy text commands to a daemon's --listen-udp port.
type legacyCtl struct {
	conn *net.UDPConn
}

func dialLegacy(t *testing.T, addr string) *legacyCtl {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &legacyCtl{conn: c}
}

// do sends line and returns the reply ("" if none came within wait).
func (l *legacyCtl) do(t *testing.T, line string, wait time.Duration) string {
	t.Helper()
	if _, err := l.conn.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	_ = l.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := l.conn.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// portReply checks a U or L reply, "COOKIE PORT 127.0.0.1 4\n", and
// returns the port.
func portReply(t *testing.T, cookie, reply string) int {
	t.Helper()
	f := strings.Fields(reply)
	if len(f) != 4 || f[0] != cookie || f[2] != "127.0.0.1" || f[3] != "4" || !strings.HasSuffix(reply, "\n") {
		t.Fatalf("reply %q, want %q PORT 127.0.0.1 4", reply, cookie)
	}
	p, err := strconv.Atoi(f[1])
	if err != nil || p == 0 {
		t.Fatalf("reply %q: bad port", reply)
	}
	return p
}

// rtpEnd is one party's RTP socket.
type rtpEnd struct {
	conn *net.UDPConn
	port int
	seq  uint16
}

func newRTPEnd(t *testing.T) *rtpEnd {
	t.Helper()
	c := testport.UDP(t)
	return &rtpEnd{conn: c, port: c.LocalAddr().(*net.UDPAddr).Port}
}

// exchange sends a packet from e to port and returns where it arrived
// at to from (invalid: nothing arrived).
func (e *rtpEnd) exchange(t *testing.T, port int, to *rtpEnd) netip.AddrPort {
	t.Helper()
	e.seq++
	pkt := []byte{0x80, 0, byte(e.seq >> 8), byte(e.seq), 0, 0, 0, 1, 0, 0, 0, byte(e.port), 1, 2, 3, 4}
	if _, err := e.conn.WriteToUDPAddrPort(pkt, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
		t.Fatal(err)
	}
	_ = to.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	for {
		n, from, err := to.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return netip.AddrPort{}
		}
		if n == len(pkt) && string(buf[:n]) == string(pkt) {
			return from
		}
	}
}

// TestLegacyUDPControl drives rtpengine 10.5 and mediad over the legacy
// UDP control protocol (--listen-udp, rtpproxy's commands) with the same
// lines, and wants the same replies: version queries, an offer (U) and an
// answer (L) with media both ways through the ports they name, a
// retransmitted command answered from the cache, a second media added
// without moving the first, a query (Q) counting the packets, a lookup
// of an unknown call, a delete (D) and its repetition, and malformed
// lines (answered as rtpengine answers them, or not at all).
func TestLegacyUDPControl(t *testing.T) {
	ports := map[string]int{"mediad": testport.Get(t), "rtpengine": testport.Get(t)}
	extra := func(name string) []string { return []string{"--listen-udp=127.0.0.1:" + strconv.Itoa(ports[name])} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		ctl := dialLegacy(t, "127.0.0.1:"+strconv.Itoa(ports[name]))
		exact := func(line, want string) {
			t.Helper()
			if got := ctl.do(t, line, 2*time.Second); got != want {
				t.Errorf("%q: reply %q, want %q", line, got, want)
			}
		}
		exact("v1 V", "v1 20040107\n")
		exact("v2 VF 20050322", "v2 1\n")
		exact("v3 VF 20071218", "v3 0\n")

		a, b := newRTPEnd(t), newRTPEnd(t)
		callID := "legacy-" + name
		offer := "u1 Uc0,8,101 " + callID + ";z9hG4bK1 127.0.0.1 " + strconv.Itoa(a.port) + " ftag;1\n"
		toB := portReply(t, "u1", ctl.do(t, offer, 2*time.Second))
		exact(offer, "u1 "+strconv.Itoa(toB)+" 127.0.0.1 4\n") // the cached reply
		toA := portReply(t, "l1", ctl.do(t, "l1 Lc0 "+callID+";z9hG4bK1 127.0.0.1 "+strconv.Itoa(b.port)+" ftag;1 ttag;1\n", 2*time.Second))
		if toA == toB {
			t.Fatalf("the same port %d for both parties", toA)
		}
		for i := range 5 {
			if from := a.exchange(t, toA, b); from.Port() != uint16(toB) {
				t.Fatalf("packet %d from a: arrived from %v, want the daemon's port %d", i, from, toB)
			}
			if from := b.exchange(t, toB, a); from.Port() != uint16(toA) {
				t.Fatalf("packet %d from b: arrived from %v, want the daemon's port %d", i, from, toA)
			}
		}

		// A second media, then the first offered again: its port stays.
		// Not on rtpengine 10.5: it answers a media added to a call with
		// the zero address (a proxy would write a hold into the SDP), and
		// no packet passes on the ports it names.
		if name == "mediad" {
			a2, b2 := newRTPEnd(t), newRTPEnd(t)
			toB2 := portReply(t, "u2", ctl.do(t, "u2 U "+callID+" 127.0.0.1 "+strconv.Itoa(a2.port)+" ftag;2 ttag;2", 2*time.Second))
			toA2 := portReply(t, "l2", ctl.do(t, "l2 L "+callID+" 127.0.0.1 "+strconv.Itoa(b2.port)+" ftag;2 ttag;2", 2*time.Second))
			if from := a2.exchange(t, toA2, b2); from.Port() != uint16(toB2) {
				t.Errorf("second media: arrived from %v, want port %d", from, toB2)
			}
		}
		if p := portReply(t, "u3", ctl.do(t, "u3 U "+callID+" 127.0.0.1 "+strconv.Itoa(a.port)+" ftag;1 ttag;1", 2*time.Second)); p != toB {
			t.Errorf("re-offer of media 1: port %d, was %d", p, toB)
		}
		if from := b.exchange(t, toB, a); from.Port() != uint16(toA) {
			t.Errorf("media 1 after the re-offer: arrived from %v, want port %d", from, toA)
		}
		// Hold (the zero address) keeps the port and answers the zero
		// address; the address again resumes.
		if got := ctl.do(t, "h1 U "+callID+" 0.0.0.0 "+strconv.Itoa(a.port)+" ftag;1 ttag;1", 2*time.Second); got != "h1 "+strconv.Itoa(toB)+" 0.0.0.0 4\n" {
			t.Errorf("hold: %q, want port %d and the zero address", got, toB)
		}
		if p := portReply(t, "h2", ctl.do(t, "h2 U "+callID+" 127.0.0.1 "+strconv.Itoa(a.port)+" ftag;1 ttag;1", 2*time.Second)); p != toB {
			t.Errorf("resume: port %d, was %d", p, toB)
		}

		exact("l9 L nosuch 127.0.0.1 4000 ftag;1 ttag;1", "l9 0 0.0.0.0\n")
		exact("q9 Q nosuch ftag", "q9 E8\n")

		exact("d1 D "+callID+" ftag ttag", "d1 0\n")
		if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
			t.Errorf("calls after the delete: %v", ngCalls(t, ng))
		}
		exact("d2 D "+callID+" ftag ttag", "d2 E8\n")

		// Malformed lines: an offer without tags gets its own address and
		// port back (the proxy then leaves the media alone), other
		// commands E8; a blank line no answer.
		exact("m1 U x 127.0.0.1 4000", "m1 4000 127.0.0.1\n")
		exact("m2 X", "m2 E8\n")
		exact("m3 D", "m3 E8\n")
		if got := ctl.do(t, "   ", 300*time.Millisecond); got != "" {
			t.Errorf("blank line: reply %q, want none", got)
		}
		exact("m4 U x 999.1.1.1 4000 f;1", "m4 E8\n")

		// A query counts the packets and the seconds to the silent
		// timeout. On its own call, last: after a query rtpengine 10.5
		// answers nothing more for the call (call_query_udp unlocks the
		// call twice) and later commands for calls wait on it (checked by
		// hand, session 25).
		qid := callID + "-q"
		toB = portReply(t, "qu", ctl.do(t, "qu U "+qid+" 127.0.0.1 "+strconv.Itoa(a.port)+" ftag;1", 2*time.Second))
		toA = portReply(t, "ql", ctl.do(t, "ql L "+qid+" 127.0.0.1 "+strconv.Itoa(b.port)+" ftag;1 ttag;1", 2*time.Second))
		for range 3 {
			a.exchange(t, toA, b)
			b.exchange(t, toB, a)
		}
		q := strings.Fields(ctl.do(t, "q1 Q "+qid+" ftag ttag", 2*time.Second))
		if len(q) != 6 || q[0] != "q1" || q[3] != "0" || q[4] != "0" || q[5] != "0" {
			t.Errorf("query: %q, want q1 SECONDS RTP 0 0 0", q)
		} else if left, _ := strconv.Atoi(q[1]); left < 3590 || left > 3600 || q[2] != "6" {
			t.Errorf("query: %q, want 3590-3600 seconds left and the 6 RTP packets sent", q)
		}
		if name == "mediad" {
			exact("q2 D "+qid+" ftag ttag", "q2 0\n")
			// Nothing refused above left a call behind.
			if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
				t.Errorf("calls left: %v", ngCalls(t, ng))
			}
		}
	})
}

// TestCallsKamailioRtpproxy: Kamailio 5.6 with its rtpproxy module (not
// rtpengine's) routes phone-to-phone calls with media through the legacy
// UDP control port, of rtpengine 10.5 and of mediad: early and late offer,
// then a re-INVITE, an UPDATE and a re-INVITE without SDP from each side.
func TestCallsKamailioRtpproxy(t *testing.T) {
	if _, err := os.Stat(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	ports := map[string]int{"mediad": testport.Get(t), "rtpengine": testport.Get(t)}
	extra := func(name string) []string { return []string{"--listen-udp=127.0.0.1:" + strconv.Itoa(ports[name])} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		px := startKamailioRtpproxy(t, "udp:127.0.0.1:"+strconv.Itoa(ports[name]))
		for _, late := range []bool{false, true} {
			sfx := name + "-early"
			if late {
				sfx = name + "-late"
			}
			alice := newPhone(t, px, "alice-"+sfx, late)
			bob := registeredPhone(t, phone.Config{User: "bob-" + sfx, Proxy: px.UDP, Domain: callsDomain})
			a, b := placeCall(t, alice, bob, "bob-"+sfx)
			checkMediaThrough(t, ng, a, b)
			if !late {
				for _, r := range allReoffers {
					renegotiateBothWays(t, ng, a, b, r)
				}
			}
			hangupAndCheck(t, ng, a, b)
		}
	})
}

// startKamailioRtpproxy runs Kamailio with testdata/kamailio/
// kamailio-rtpproxy.cfg, its rtpproxy module pointed at sock.
func startKamailioRtpproxy(t *testing.T, sock string) *proxy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "kamailio", "kamailio-rtpproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	port := testport.Get(t)
	cfg := strings.NewReplacer("PORT", strconv.Itoa(port), "CTLSOCK", sock, "CHILDREN", "2").Replace(string(b))
	return &proxy{UDP: mustAddrPort(hostPort(port)), TCP: hostPort(port), Proc: runKamailio(t, cfg, port)}
}
