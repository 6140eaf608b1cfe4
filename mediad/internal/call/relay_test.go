package call

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"sipmedia/mediad/internal/relay"
	"sipmedia/ngproto/testport"
)

// Calls set up through the registry with a real relay, phones on real UDP
// sockets: the integration of signalling and media.

func newRelayReg(t *testing.T, cfg Config) (*Registry, *relay.Engine) {
	t.Helper()
	eng, err := relay.New(relay.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eng.Close()
		if n := eng.NumStreams(); n != 0 {
			t.Errorf("%d relay streams left", n)
		}
	})
	r, _ := newReg(t, cfg, testPortBase+4000, testPortBase+4999)
	if err := r.UseRelay(eng); err != nil {
		t.Fatal(err)
	}
	return r, eng
}

type phone struct{ rtp, rtcp *net.UDPConn }

func newPhone(t *testing.T) *phone {
	t.Helper()
	return &phone{rtp: testport.UDP(t), rtcp: testport.UDP(t)}
}

func port(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// sdp describes p's sockets (RTCP via a=rtcp) with an optional direction.
func (p *phone) sdp(dir string) string {
	s := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtcp:%d\r\n", port(p.rtp), port(p.rtcp))
	if dir != "" {
		s += "a=" + dir + "\r\n"
	}
	return s
}

var reConn = regexp.MustCompile(`(?m)^c=IN IP4 (\S+)`)
var reRTCP = regexp.MustCompile(`(?m)^a=rtcp:(\d+)`)

// target returns where a phone must send RTP and RTCP per our SDP.
func target(t *testing.T, sdp string) (rtp, rtcp netip.AddrPort) {
	t.Helper()
	m := reConn.FindStringSubmatch(sdp)
	if m == nil {
		t.Fatalf("no c= in %q", sdp)
	}
	a := netip.MustParseAddr(m[1])
	p := mediaPorts(t, sdp)[0]
	rp := p + 1
	if m := reRTCP.FindStringSubmatch(sdp); m != nil {
		rp, _ = strconv.Atoi(m[1])
	}
	return netip.AddrPortFrom(a, uint16(p)), netip.AddrPortFrom(a, uint16(rp))
}

type relayCall struct {
	a, b         *phone
	toA, toARTCP netip.AddrPort // where phone A sends
	toB, toBRTCP netip.AddrPort // where phone B sends
}

func setupRelayCall(t *testing.T, r *Registry, id string, a, b *phone, aFlags map[string]bool) *relayCall {
	t.Helper()
	c := &relayCall{a: a, b: b}
	out, err := r.Offer(&Params{CallID: id, FromTag: "a", SDP: a.sdp(""), Flags: aFlags})
	if err != nil {
		t.Fatal(err)
	}
	c.toB, c.toBRTCP = target(t, out)
	out, err = r.Answer(&Params{CallID: id, FromTag: "a", ToTag: "b", SDP: b.sdp("")})
	if err != nil {
		t.Fatal(err)
	}
	c.toA, c.toARTCP = target(t, out)
	return c
}

var rtpPkt = append([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, bytes.Repeat([]byte{0xd5}, 160)...)
var rtcpPkt = []byte{0x80, 201, 0, 1, 0, 0, 0, 2}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, p []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(p, to); err != nil {
		t.Fatal(err)
	}
}

// recv expects p on c from `from`.
func recv(t *testing.T, c *net.UDPConn, p []byte, from netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %d: %v", port(c), err)
	}
	if !bytes.Equal(buf[:n], p) || src != from {
		t.Fatalf("got %x from %s, want %x from %s", buf[:n], src, p, from)
	}
}

func silent(t *testing.T, c *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if n, src, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("unexpected %x from %s on %d", buf[:n], src, port(c))
	}
}

func streamCounts(t *testing.T, r *Registry, id, tag string) (rtp, rtcp Counts) {
	t.Helper()
	m := firstMedia(t, r, id, tag)
	return m.Streams[0].Counts, m.Streams[1].Counts
}

// firstMedia returns the query statistics of party key's first media
// (key: its tag, or "<untagged N>").
func firstMedia(t *testing.T, r *Registry, id, key string) MediaStats {
	t.Helper()
	st, err := r.Query(id, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Tags {
		if ts.Key == key {
			return ts.Medias[0]
		}
	}
	t.Fatalf("no party %q in the query", key)
	return MediaStats{}
}

func TestRelayMediaAndRTCPBothWays(t *testing.T) {
	r, eng := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "both", a, b, nil)
	for range 3 {
		send(t, a.rtp, c.toA, rtpPkt)
		recv(t, b.rtp, rtpPkt, c.toB)
		send(t, b.rtp, c.toB, rtpPkt)
		recv(t, a.rtp, rtpPkt, c.toA)
	}
	send(t, a.rtcp, c.toARTCP, rtcpPkt)
	recv(t, b.rtcp, rtcpPkt, c.toBRTCP)
	send(t, b.rtcp, c.toBRTCP, rtcpPkt)
	recv(t, a.rtcp, rtcpPkt, c.toARTCP)

	rtp, rtcp := streamCounts(t, r, "both", "a")
	if rtp.Packets != 3 || rtp.Bytes != 3*172 || rtcp.Packets != 1 {
		t.Errorf("offerer counters rtp %+v rtcp %+v", rtp, rtcp)
	}
	if tot := r.RelayTotals(); tot.Packets != 8 {
		t.Errorf("relay totals %+v", tot)
	}
	if _, err := r.Delete(DeleteParams{CallID: "both", FromTag: "a"}); err != nil {
		t.Fatal(err)
	}
	if n := eng.NumStreams(); n != 0 {
		t.Errorf("%d relay streams after delete", n)
	}
	// The sockets are gone: the ports can be bound again.
	for _, ap := range []netip.AddrPort{c.toA, c.toARTCP, c.toB, c.toBRTCP} {
		l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			t.Fatalf("port %s still bound after delete: %v", ap, err)
		}
		l.Close()
	}
}

func TestRelayLatchesNATSource(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "nat", a, b, nil)
	// Phone A's NAT maps its media to another port than its SDP says.
	nat := newPhone(t)
	send(t, nat.rtp, c.toA, rtpPkt)
	recv(t, b.rtp, rtpPkt, c.toB)
	send(t, b.rtp, c.toB, rtpPkt)
	recv(t, nat.rtp, rtpPkt, c.toA)
	silent(t, a.rtp)
}

func TestRelayStrictSourceDropsIntruder(t *testing.T) {
	r, _ := newRelayReg(t, Config{EndpointLearning: "immediate"})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "strict", a, b, map[string]bool{"strict-source": true})
	send(t, a.rtp, c.toA, rtpPkt)
	recv(t, b.rtp, rtpPkt, c.toB)
	intruder := newPhone(t)
	send(t, intruder.rtp, c.toA, rtpPkt)
	silent(t, b.rtp)
	if rtp, _ := streamCounts(t, r, "strict", "a"); rtp.Errors != 1 || rtp.Packets != 1 {
		t.Errorf("counters %+v, want 1 packet and 1 error", rtp)
	}
}

func TestRelayHoldAndReinviteToNewPort(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "hold", a, b, nil)
	// A holds: re-offer sendonly, B answers recvonly. B's RTP must not reach A.
	if _, err := r.Offer(&Params{CallID: "hold", FromTag: "a", SDP: a.sdp("sendonly")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Answer(&Params{CallID: "hold", FromTag: "a", ToTag: "b", SDP: b.sdp("recvonly")}); err != nil {
		t.Fatal(err)
	}
	send(t, b.rtp, c.toB, rtpPkt)
	silent(t, a.rtp)
	send(t, a.rtp, c.toA, rtpPkt) // music on hold still flows
	recv(t, b.rtp, rtpPkt, c.toB)

	// A resumes from a new port.
	a2 := newPhone(t)
	if _, err := r.Offer(&Params{CallID: "hold", FromTag: "a", SDP: a2.sdp("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Answer(&Params{CallID: "hold", FromTag: "a", ToTag: "b", SDP: b.sdp("")}); err != nil {
		t.Fatal(err)
	}
	send(t, b.rtp, c.toB, rtpPkt)
	recv(t, a2.rtp, rtpPkt, c.toA)
	silent(t, a.rtp)
}

func TestRelayNoMediaTimeoutDeletesCall(t *testing.T) {
	r, eng := newRelayReg(t, Config{Timeout: time.Minute})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "quiet", a, b, nil)
	send(t, a.rtp, c.toA, rtpPkt)
	recv(t, b.rtp, rtpPkt, c.toB)
	r.sweep(time.Now().Add(30 * time.Second)) // media seen recently
	if _, err := r.Query("quiet", "", ""); err != nil {
		t.Fatalf("call gone before the timeout: %v", err)
	}
	r.sweep(time.Now().Add(2 * time.Minute))
	if _, err := r.Query("quiet", "", ""); err == nil {
		t.Fatal("call not deleted after the media timeout")
	}
	if n := r.Counters().Timeout.Load(); n != 1 {
		t.Errorf("timeout counter %d", n)
	}
	if n := eng.NumStreams(); n != 0 {
		t.Errorf("%d relay streams after timeout", n)
	}
}

// relayStreams returns the relay streams of a call's first media, both parties.
func relayStreams(r *Registry, id string) []*relay.Stream {
	r.mu.Lock()
	c := r.calls[id]
	r.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*relay.Stream
	for _, m := range c.monologues {
		for _, s := range m.Medias[0].Streams {
			if s.rs != nil {
				out = append(out, s.rs)
			}
		}
	}
	return out
}

// Under churn a deleted call's sockets go back warm and the next call on
// the same ports relays through them: media flows, counters start at zero.
func TestRelayReusesWarmSockets(t *testing.T) {
	eng, err := relay.New(relay.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	r, alloc := newReg(t, Config{}, testPortBase+4000, testPortBase+4011) // six pairs
	if err := r.UseRelay(eng); err != nil {
		t.Fatal(err)
	}
	a, b := newPhone(t), newPhone(t)
	cycle := func(id string) []*relay.Stream {
		c := setupRelayCall(t, r, id, a, b, nil)
		send(t, a.rtp, c.toA, rtpPkt)
		recv(t, b.rtp, rtpPkt, c.toB)
		send(t, b.rtp, c.toB, rtpPkt)
		recv(t, a.rtp, rtpPkt, c.toA)
		if rtp, _ := streamCounts(t, r, id, "a"); rtp.Packets != 1 {
			t.Fatalf("call %s: offerer's RTP counters %+v, want 1 packet", id, rtp)
		}
		rs := relayStreams(r, id)
		if _, err := r.Delete(DeleteParams{CallID: id, FromTag: "a"}); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for i := range 30 {
		cycle("churn-" + strconv.Itoa(i))
	}
	time.Sleep(time.Second + 50*time.Millisecond) // the allocator's rate window
	old := map[*relay.Stream]bool{}
	for _, s := range cycle("warm") {
		old[s] = true
	}
	if alloc.Warm() == 0 {
		t.Fatal("no warm pair after a deleted call under churn")
	}
	reused := 0
	for i := range 4 {
		for _, s := range cycle("next-" + strconv.Itoa(i)) {
			if old[s] {
				reused++
			}
		}
	}
	if reused == 0 {
		t.Fatal("no relay stream of the warm call was reused")
	}
	alloc.Sweep(time.Now().Add(time.Minute))
	if n := eng.NumStreams(); n != 0 || alloc.Warm() != 0 {
		t.Fatalf("after sweep: %d relay streams, %d warm pairs", n, alloc.Warm())
	}
}
