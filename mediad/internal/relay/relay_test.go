package relay

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/ngproto/testport"
)

// leakCheck fails the test if goroutines started during it outlive it.
func leakCheck(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("leaked goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	leakCheck(t)
	e, err := New(Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newStream(t testing.TB, e *Engine, comp Component) *Stream {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewStream(c, comp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// rtpPacket is a 172-byte G.711 packet with sequence number seq.
func rtpPacket(seq uint16) []byte {
	p := make([]byte, 172)
	p[0], p[1] = 0x80, 0
	p[2], p[3] = byte(seq>>8), byte(seq)
	for i := 12; i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

// rtcpPacket is a minimal receiver report (PT 201).
func rtcpPacket() []byte {
	return []byte{0x80, 201, 0, 1, 1, 2, 3, 4}
}

func sendTo(t testing.TB, c *net.UDPConn, to netip.AddrPort, p []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(p, to); err != nil {
		t.Fatal(err)
	}
}

// expect reads one datagram and checks its content and source.
func expect(t testing.TB, c *net.UDPConn, want []byte, from netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("%s: read: %v", addr(c), err)
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("%s: got %x, want %x", addr(c), buf[:n], want)
	}
	if src != from {
		t.Fatalf("%s: packet from %s, want %s", addr(c), src, from)
	}
}

// expectNothing checks that no datagram arrives within a short time.
func expectNothing(t testing.TB, c *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err == nil {
		t.Fatalf("%s: unexpected packet %x from %s", addr(c), buf[:n], src)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds (counters are updated after the send).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// call is a two-sided plain RTP call: phone A <-> sa | sb <-> phone B.
type call struct {
	phoneA, phoneB *net.UDPConn
	sa, sb         *Stream
}

func newCall(t testing.TB, e *Engine, learn Learning) *call {
	c := &call{phoneA: testport.UDP(t), phoneB: testport.UDP(t), sa: newStream(t, e, ComponentRTP), sb: newStream(t, e, ComponentRTP)}
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: learn, LoopProtect: true, DemuxRTCP: true})
	c.sb.SetForwarding(&Forwarding{Remote: addr(c.phoneB), Sink: c.sa, Learning: learn, LoopProtect: true, DemuxRTCP: true})
	return c
}

func TestMediaBothWays(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	for i := range 10 {
		p := rtpPacket(uint16(i))
		sendTo(t, c.phoneA, c.sa.Local(), p)
		expect(t, c.phoneB, p, c.sb.Local())
		sendTo(t, c.phoneB, c.sb.Local(), p)
		expect(t, c.phoneA, p, c.sa.Local())
	}
	waitFor(t, "counters", func() bool { return c.sa.Stats().Out.Packets == 10 })
	sa := c.sa.Stats()
	if sa.In.Packets != 10 || sa.In.Bytes != 1720 || sa.In.Errors != 0 || sa.LastPacket.IsZero() {
		t.Errorf("sa stats %+v", sa)
	}
	if sa.Out.Packets != 10 || sa.Out.Bytes != 1720 {
		t.Errorf("sa out %+v", sa.Out)
	}
	if tot := e.Totals(); tot.Packets != 20 || tot.Bytes != 3440 || tot.Errors != 0 {
		t.Errorf("totals %+v", tot)
	}
}

func TestWithoutURing(t *testing.T) {
	leakCheck(t)
	e, err := New(Config{Loops: 2, NoURing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, p := range e.pollers {
		if p.ring != nil {
			t.Fatal("ring in use despite NoURing")
		}
	}
	c := newCall(t, e, LearnImmediate)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnImmediate, StrictSource: true})
	for i := range 5 {
		sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(uint16(i)))
		expect(t, c.phoneB, rtpPacket(uint16(i)), c.sb.Local())
		sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(uint16(i)))
		expect(t, c.phoneA, rtpPacket(uint16(i)), c.sa.Local())
	}
	sendTo(t, testport.UDP(t), c.sa.Local(), rtpPacket(9))
	waitFor(t, "strict drop", func() bool { return c.sa.Stats().In.Errors == 1 })
	waitFor(t, "out counters", func() bool { return c.sb.Stats().Out.Packets == 5 })
}

func TestURingInUse(t *testing.T) {
	e := newEngine(t)
	for _, p := range e.pollers {
		if p.ring == nil {
			t.Skip("io_uring not available here; the recvmmsg path is tested by TestWithoutURing")
		}
	}
}

func TestRTCPBothWays(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	rtcpA, rtcpB := testport.UDP(t), testport.UDP(t)
	ra, rb := newStream(t, e, ComponentRTCP), newStream(t, e, ComponentRTCP)
	ra.SetForwarding(&Forwarding{Remote: addr(rtcpA), RTCPSink: rb, LoopProtect: true})
	rb.SetForwarding(&Forwarding{Remote: addr(rtcpB), RTCPSink: ra, LoopProtect: true})
	p := rtcpPacket()
	sendTo(t, rtcpA, ra.Local(), p)
	expect(t, rtcpB, p, rb.Local())
	sendTo(t, rtcpB, rb.Local(), p)
	expect(t, rtcpA, p, ra.Local())
	// RTP still flows on the RTP ports.
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
}

func TestLatchToNATSource(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	// Phone A advertised one port (sdpA, nobody reads it) but sends from
	// another (natA), as a phone behind NAT does.
	sdpA, natA := testport.UDP(t), testport.UDP(t)
	c.sa.SetForwarding(&Forwarding{Remote: addr(sdpA), Sink: c.sb, Signalled: time.Now()})

	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(1))
	expect(t, sdpA, rtpPacket(1), c.sa.Local()) // before learning: the SDP address

	sendTo(t, natA, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local())
	if got := c.sa.Peer(); got != addr(natA) {
		t.Fatalf("peer %s, want %s", got, addr(natA))
	}
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(3))
	expect(t, natA, rtpPacket(3), c.sa.Local())
	expectNothing(t, sdpA)
	if _, confirmed := c.sa.Learned(); confirmed {
		t.Error("delayed learning confirmed inside the window")
	}
}

func TestDelayedLearningConfirmsAfterWindow(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	first, second := testport.UDP(t), testport.UDP(t)
	// Signalled long ago: the first packet confirms, later sources are ignored.
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Signalled: time.Now().Add(-time.Minute)})
	sendTo(t, first, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	sendTo(t, second, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local()) // forwarded, not learned
	if l, ok := c.sa.Learned(); !ok || l != addr(first) || c.sa.Peer() != addr(first) {
		t.Fatalf("learned %s confirmed %v peer %s, want %s", l, ok, c.sa.Peer(), addr(first))
	}
}

func TestStrictSourceDropsIntruder(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnImmediate, StrictSource: true})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())

	intruder := testport.UDP(t)
	for i := range 3 {
		sendTo(t, intruder, c.sa.Local(), rtpPacket(uint16(10+i)))
	}
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local()) // the intruder's packets never arrive
	waitFor(t, "errors", func() bool { return c.sa.Stats().In.Errors == 3 })
	if st := c.sa.Stats(); st.In.Packets != 2 {
		t.Errorf("in packets %d, want 2", st.In.Packets)
	}
	if tot := e.Totals(); tot.Errors != 3 {
		t.Errorf("total errors %d, want 3", tot.Errors)
	}
	// The peer is still phone A.
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(3))
	expect(t, c.phoneA, rtpPacket(3), c.sa.Local())
}

func TestWithoutStrictSourceIntruderIsForwarded(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	other := testport.UDP(t)
	sendTo(t, other, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local())
	if c.sa.Peer() != addr(c.phoneA) {
		t.Errorf("peer moved to %s", c.sa.Peer())
	}
}

func TestMediaHandover(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnImmediate, MediaHandover: true})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	moved := testport.UDP(t)
	sendTo(t, moved, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local())
	waitFor(t, "handover", func() bool { return c.sa.Peer() == addr(moved) })
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(3))
	expect(t, moved, rtpPacket(3), c.sa.Local())
}

func TestAsymmetric(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	// Phone A receives on its SDP address but sends from elsewhere.
	sender := testport.UDP(t)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnImmediate, Asymmetric: true, StrictSource: true})
	sendTo(t, sender, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(2))
	expect(t, c.phoneA, rtpPacket(2), c.sa.Local()) // still the SDP address
	expectNothing(t, sender)
	if l, ok := c.sa.Learned(); !ok || l != addr(sender) {
		t.Errorf("learned %s %v, want %s", l, ok, addr(sender))
	}
	// strict-source compares against the learned sender.
	intruder := testport.UDP(t)
	sendTo(t, intruder, c.sa.Local(), rtpPacket(3))
	waitFor(t, "strict drop", func() bool { return c.sa.Stats().In.Errors == 1 })
	expectNothing(t, c.phoneB)
}

func TestHold(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	// A puts B on hold (a=sendonly), B answers recvonly: B's RTP must not
	// reach A; A's RTP (music on hold) reaches B; RTCP flows both ways.
	c.sb.SetForwarding(&Forwarding{Remote: addr(c.phoneB), Sink: c.sa, RTCPSink: c.sa, DemuxRTCP: true, NoSend: true})
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, RTCPSink: c.sb, DemuxRTCP: true})
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(1))
	sendTo(t, c.phoneB, c.sb.Local(), rtcpPacket())
	expect(t, c.phoneA, rtcpPacket(), c.sa.Local()) // RTCP yes, RTP no
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(2))
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local())
	if st := c.sb.Stats(); st.In.Packets != 2 || st.In.Errors != 0 {
		t.Errorf("held side counters %+v", st.In)
	}

	// Old-style hold: c=0.0.0.0 in B's SDP. Nothing is sent toward B.
	c.sb.SetForwarding(&Forwarding{Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), addr(c.phoneB).Port()), Sink: c.sa})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(3))
	expectNothing(t, c.phoneB)

	// Resume.
	c.sb.SetForwarding(&Forwarding{Remote: addr(c.phoneB), Sink: c.sa})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(4))
	expect(t, c.phoneB, rtpPacket(4), c.sb.Local())
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(5))
	expect(t, c.phoneA, rtpPacket(5), c.sa.Local())
}

// TestSendLearned: ICE passthrough gives no address (c=0.0.0.0, port 9)
// for either side. Nothing goes out before a side has sent; after, its
// packets go to where it sent from, STUN and DTLS as they came.
func TestSendLearned(t *testing.T) {
	e := newEngine(t)
	c := &call{phoneA: testport.UDP(t), phoneB: testport.UDP(t), sa: newStream(t, e, ComponentRTP), sb: newStream(t, e, ComponentRTP)}
	c.sa.SetForwarding(&Forwarding{Sink: c.sb, Learning: LearnDelayed, DemuxRTCP: true, SendLearned: true})
	c.sb.SetForwarding(&Forwarding{Sink: c.sa, Learning: LearnDelayed, DemuxRTCP: true, SendLearned: true})
	stun := append([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)
	sendTo(t, c.phoneA, c.sa.Local(), stun) // B's address is not known yet
	expectNothing(t, c.phoneB)
	sendTo(t, c.phoneB, c.sb.Local(), stun)
	expect(t, c.phoneA, stun, c.sa.Local())
	dtls := append([]byte{22, 0xfe, 0xfd}, make([]byte, 40)...)
	sendTo(t, c.phoneA, c.sa.Local(), dtls)
	expect(t, c.phoneB, dtls, c.sb.Local())
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(1))
	expect(t, c.phoneA, rtpPacket(1), c.sa.Local())

	// Without SendLearned the same unusable address means hold.
	c.sb.SetForwarding(&Forwarding{Sink: c.sa, Learning: LearnDelayed, DemuxRTCP: true})
	sendTo(t, c.phoneB, c.sb.Local(), stun)
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(2))
	expectNothing(t, c.phoneB)
}

func TestReInviteToNewPort(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	if _, ok := c.sa.Learned(); !ok {
		t.Fatal("not confirmed")
	}
	// re-INVITE: phone A moves to a new port.
	newA := testport.UDP(t)
	c.sa.SetForwarding(&Forwarding{Remote: addr(newA), Sink: c.sb, Learning: LearnImmediate, Signalled: time.Now()})
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(2))
	expect(t, newA, rtpPacket(2), c.sa.Local())
	expectNothing(t, c.phoneA)
	// and media from the new port latches again.
	sendTo(t, newA, c.sa.Local(), rtpPacket(3))
	expect(t, c.phoneB, rtpPacket(3), c.sb.Local())
	if l, ok := c.sa.Learned(); !ok || l != addr(newA) {
		t.Errorf("learned %s %v, want %s", l, ok, addr(newA))
	}
}

func TestReInviteSameAddressKeepsNATLatch(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	sdpA, natA := testport.UDP(t), testport.UDP(t)
	f := &Forwarding{Remote: addr(sdpA), Sink: c.sb, Signalled: time.Now()}
	c.sa.SetForwarding(f)
	sendTo(t, natA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	g := *f
	g.Signalled = time.Now()
	c.sa.SetForwarding(&g) // e.g. a re-INVITE for hold/resume with the same SDP address
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(2))
	expect(t, natA, rtpPacket(2), c.sa.Local())
}

func TestRTCPMuxDemuxBridging(t *testing.T) {
	e := newEngine(t)
	// Side A uses rtcp-mux (one socket); side B has separate RTP and RTCP.
	phoneA, phoneB, phoneBRTCP := testport.UDP(t), testport.UDP(t), testport.UDP(t)
	sa := newStream(t, e, ComponentRTP)
	sb, sbr := newStream(t, e, ComponentRTP), newStream(t, e, ComponentRTCP)
	sa.SetForwarding(&Forwarding{Remote: addr(phoneA), Sink: sb, RTCPSink: sbr, DemuxRTCP: true})
	sb.SetForwarding(&Forwarding{Remote: addr(phoneB), Sink: sa, RTCPSink: sbr, DemuxRTCP: true})
	sbr.SetForwarding(&Forwarding{Remote: addr(phoneBRTCP), RTCPSink: sa})

	sendTo(t, phoneA, sa.Local(), rtcpPacket()) // muxed RTCP -> B's RTCP port
	expect(t, phoneBRTCP, rtcpPacket(), sbr.Local())
	sendTo(t, phoneA, sa.Local(), rtpPacket(1)) // RTP -> B's RTP port
	expect(t, phoneB, rtpPacket(1), sb.Local())
	sendTo(t, phoneBRTCP, sbr.Local(), rtcpPacket()) // B's RTCP -> A's mux port
	expect(t, phoneA, rtcpPacket(), sa.Local())
	sendTo(t, phoneB, sb.Local(), rtpPacket(2))
	expect(t, phoneA, rtpPacket(2), sa.Local())
}

func TestLoopProtection(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnOff)
	// A misconfigured peer: sc forwards to sd, whose peer is our own sa. A
	// packet sent by sd arrives at sa from one of our sockets and is dropped.
	phone := testport.UDP(t)
	sc, sd := newStream(t, e, ComponentRTP), newStream(t, e, ComponentRTP)
	sc.SetForwarding(&Forwarding{Remote: addr(phone), Sink: sd, Learning: LearnOff})
	sd.SetForwarding(&Forwarding{Remote: c.sa.Local(), Sink: sc, Learning: LearnOff})
	sendTo(t, phone, sc.Local(), rtpPacket(1))
	waitFor(t, "loop drop", func() bool { return c.sa.Stats().In.Errors == 1 })
	expectNothing(t, c.phoneB)
	if st := sd.Stats(); st.Out.Packets != 1 {
		t.Errorf("sd sent %d, want 1", st.Out.Packets)
	}
	if st := c.sa.Stats(); st.In.Packets != 0 {
		t.Errorf("looped packet counted as received: %+v", st.In)
	}
}

func TestHeuristicPrefersSDPAddress(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnHeuristic)
	other := testport.UDP(t)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnHeuristic, Signalled: time.Now()})
	sendTo(t, other, c.sa.Local(), rtpPacket(1)) // a worse match first
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	if c.sa.Peer() != addr(other) {
		t.Fatalf("peer %s, want %s", c.sa.Peer(), addr(other))
	}
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(2)) // exact SDP match confirms
	expect(t, c.phoneB, rtpPacket(2), c.sb.Local())
	sendTo(t, other, c.sa.Local(), rtpPacket(3))
	expect(t, c.phoneB, rtpPacket(3), c.sb.Local())
	if l, ok := c.sa.Learned(); !ok || l != addr(c.phoneA) || c.sa.Peer() != addr(c.phoneA) {
		t.Fatalf("learned %s %v peer %s, want %s", l, ok, c.sa.Peer(), addr(c.phoneA))
	}
}

func TestCloseReleasesSocket(t *testing.T) {
	e := newEngine(t)
	s := newStream(t, e, ComponentRTP)
	local := s.Local()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
	if err != nil {
		t.Fatalf("port not reusable after Close: %v", err)
	}
	c.Close()
	if n := e.NumStreams(); n != 0 {
		t.Errorf("%d streams left", n)
	}
}

func TestEngineCloseClosesStreams(t *testing.T) {
	leakCheck(t)
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	s, err := e.NewStream(c, ComponentRTP)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(s.Local())); err != nil {
		t.Errorf("port still bound after engine Close: %v", err)
	}
	c2, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer c2.Close()
	if _, err := e.NewStream(c2, ComponentRTP); !errors.Is(err, ErrClosed) {
		t.Errorf("NewStream after Close: %v", err)
	}
}

func TestIPv6(t *testing.T) {
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		t.Skip("no IPv6 on this host")
	}
	e := newEngine(t)
	l6 := func() *net.UDPConn {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no ::1: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	phoneA, phoneB := l6(), l6()
	ca, cb := l6(), l6()
	sa, err := e.NewStream(ca, ComponentRTP)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := e.NewStream(cb, ComponentRTP)
	if err != nil {
		t.Fatal(err)
	}
	sa.SetForwarding(&Forwarding{Remote: addr(phoneA), Sink: sb})
	sb.SetForwarding(&Forwarding{Remote: addr(phoneB), Sink: sa})
	sendTo(t, phoneA, sa.Local(), rtpPacket(1))
	expect(t, phoneB, rtpPacket(1), sb.Local())
	sendTo(t, phoneB, sb.Local(), rtpPacket(2))
	expect(t, phoneA, rtpPacket(2), sa.Local())
}

func TestParseLearning(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Learning
		err  bool
	}{
		{in: "", want: LearnDelayed}, {in: "delayed", want: LearnDelayed},
		{in: "immediate", want: LearnImmediate}, {in: "off", want: LearnOff},
		{in: "heuristic", want: LearnHeuristic}, {in: "sometimes", err: true},
	} {
		got, err := ParseLearning(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseLearning(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.err && got.String() != tc.in && tc.in != "" {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

// tagTransform is a minimal Transform: it consumes datagrams starting with
// 0x00 (as STUN would be), strips a 1-byte trailer inbound and adds one
// outbound, and may pin the peer address.
type tagTransform struct {
	consumed int
	peer     netip.AddrPort
}

func (x *tagTransform) Inbound(buf []byte, n int, _ netip.AddrPort) ([]byte, bool) {
	if n == 0 || buf[0] == 0 {
		x.consumed++
		return nil, false
	}
	return buf[:n-1], true
}

func (x *tagTransform) Outbound(dst, plain []byte) ([]byte, error) {
	return append(append(dst, plain...), 0xEE), nil
}

func (x *tagTransform) Peer() (netip.AddrPort, bool) { return x.peer, x.peer.IsValid() }

func TestTransformHook(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	pinned := testport.UDP(t)
	ta := &tagTransform{peer: addr(pinned)}
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Transform: ta})

	sendTo(t, c.phoneA, c.sa.Local(), []byte{0, 1, 2, 3}) // consumed
	sendTo(t, c.phoneA, c.sa.Local(), append(rtpPacket(1), 0xEE))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(2))
	expect(t, pinned, append(rtpPacket(2), 0xEE), c.sa.Local())

	// A transform can send on the stream's socket (ICE/DTLS).
	if _, err := c.sa.WriteToUDPAddrPort([]byte("stun"), addr(c.phoneA)); err != nil {
		t.Fatal(err)
	}
	expect(t, c.phoneA, []byte("stun"), c.sa.Local())
}

// TestManyStreamsOneLoop crosses the read loop's slot-table chunk size and
// reuses freed slots.
func TestManyStreamsOneLoop(t *testing.T) {
	leakCheck(t)
	e, err := New(Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var streams []*Stream
	for range chunkSize + 10 {
		streams = append(streams, newStream(t, e, ComponentRTP))
	}
	// Free a few early slots and take them again.
	for _, s := range streams[:5] {
		s.Close()
	}
	for range 5 {
		streams = append(streams, newStream(t, e, ComponentRTP))
	}
	phoneA, phoneB := testport.UDP(t), testport.UDP(t)
	for _, pair := range [][2]*Stream{{streams[6], streams[chunkSize+3]}, {streams[len(streams)-1], streams[len(streams)-2]}} {
		sa, sb := pair[0], pair[1]
		sa.SetForwarding(&Forwarding{Remote: addr(phoneA), Sink: sb})
		sb.SetForwarding(&Forwarding{Remote: addr(phoneB), Sink: sa})
		sendTo(t, phoneA, sa.Local(), rtpPacket(1))
		expect(t, phoneB, rtpPacket(1), sb.Local())
		sendTo(t, phoneB, sb.Local(), rtpPacket(2))
		expect(t, phoneA, rtpPacket(2), sa.Local())
	}
	if n := e.NumStreams(); n != chunkSize+10 {
		t.Errorf("%d streams, want %d", n, chunkSize+10)
	}
}

// TestCloseLogsNothing: a clean shutdown is not an error.
func TestCloseLogsNothing(t *testing.T) {
	leakCheck(t)
	var buf bytes.Buffer
	e, err := New(Config{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	newStream(t, e, ComponentRTP)
	e.Close()
	if buf.Len() > 0 {
		t.Errorf("logged on Close: %s", buf.String())
	}
}

func TestRates(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	for i := range 10 {
		sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(uint16(i)))
		expect(t, c.phoneB, rtpPacket(uint16(i)), c.sb.Local())
	}
	var seen uint64
	deadline := time.Now().Add(5 * time.Second)
	for seen < 10 && time.Now().Before(deadline) {
		if r := e.Rates(); r.Packets > 0 && r.Bytes == r.Packets*172 {
			seen += r.Packets
			time.Sleep(time.Second) // next sample
			continue
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seen == 0 {
		t.Fatal("no per-second rate reported")
	}
}

// TestSlotAndDescriptorReuse closes streams that have unread datagrams
// (closing takes a socket out of the epoll set; there is no explicit
// removal) and checks that streams created afterwards, which reuse the
// freed slots and usually the descriptor numbers, relay normally.
func TestSlotAndDescriptorReuse(t *testing.T) {
	for _, noRing := range []bool{false, true} {
		t.Run(map[bool]string{false: "uring", true: "recvmmsg"}[noRing], func(t *testing.T) {
			leakCheck(t)
			e, err := New(Config{Loops: 1, NoURing: noRing})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			phone := testport.UDP(t)
			for round := range 3 {
				var old []*Stream
				for range 4 {
					c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
					if err != nil {
						t.Fatal(err)
					}
					s, err := e.NewStreamFD(dupFD(t, c), addr(c), ComponentRTP)
					c.Close()
					if err != nil {
						t.Fatal(err)
					}
					old = append(old, s)
				}
				for _, s := range old {
					sendTo(t, phone, s.Local(), rtpPacket(1)) // nobody signalled: stays queued or is dropped
				}
				for _, s := range old {
					s.Close()
				}
				c := newCall(t, e, LearnOff)
				sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(uint16(round)))
				expect(t, c.phoneB, rtpPacket(uint16(round)), c.sb.Local())
				sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(uint16(round+100)))
				expect(t, c.phoneA, rtpPacket(uint16(round+100)), c.sa.Local())
				c.sa.Close()
				c.sb.Close()
			}
			if n := e.NumStreams(); n != 0 {
				t.Errorf("%d streams left", n)
			}
		})
	}
}

// dupFD returns a non-blocking duplicate of c's socket the caller owns.
func dupFD(t *testing.T, c *net.UDPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	return fd
}

// A descriptor epoll refuses (here: already closed) fails NewStreamFD and
// frees its slot exactly once: two later streams must get distinct slots
// and both forward.
func TestNewStreamFDFailureFreesSlotOnce(t *testing.T) {
	leakCheck(t)
	e, err := New(Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	fd := dupFD(t, c)
	local := addr(c)
	c.Close()
	if err := unix.Close(fd); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewStreamFD(fd, local, ComponentRTP); err == nil {
		t.Fatal("NewStreamFD accepted a closed descriptor")
	}
	if n := e.NumStreams(); n != 0 {
		t.Fatalf("%d streams after a failed NewStreamFD", n)
	}
	call := newCall(t, e, LearnOff)
	if call.sa.slot == call.sb.slot {
		t.Fatalf("two live streams share slot %d", call.sa.slot)
	}
	sendTo(t, call.phoneA, call.sa.Local(), rtpPacket(7))
	expect(t, call.phoneB, rtpPacket(7), call.sb.Local())
	call.sa.Close()
	call.sb.Close()
}

// TestNATWait: nothing goes to a NAT-wait stream's peer until a packet
// came from that peer.
func TestNATWait(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	c.sb.SetForwarding(&Forwarding{Remote: addr(c.phoneB), Sink: c.sa, Learning: LearnImmediate, DemuxRTCP: true, NATWait: true})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expectNothing(t, c.phoneB)
	sendTo(t, c.phoneB, c.sb.Local(), rtpPacket(2))
	expect(t, c.phoneA, rtpPacket(2), c.sa.Local())
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(3))
	expect(t, c.phoneB, rtpPacket(3), c.sb.Local())
}
