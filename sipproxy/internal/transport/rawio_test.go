package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/sys/unix"
)

// udpPair returns two loopback UDP sockets, closed at the end of the test.
func udpPair(t *testing.T) (a, b net.PacketConn) {
	t.Helper()
	for _, p := range []*net.PacketConn{&a, &b} {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		*p = c
	}
	return a, b
}

func TestRawIOReadWriteClose(t *testing.T) {
	a, b := udpPair(t)
	ra, rb := newRawIO(a, nil), newRawIO(b, func(time.Duration) {})
	if ra == nil || rb == nil {
		t.Fatal("newRawIO refused a UDP socket")
	}
	if !ra.writeTo([]byte("OPTIONS"), b.LocalAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatal("writeTo failed")
	}
	buf := make([]byte, 64)
	n, from, err := rb.readFrom(buf)
	if err != nil || string(buf[:n]) != "OPTIONS" || from.String() != a.LocalAddr().String() {
		t.Fatalf("readFrom = %q from %v, %v", buf[:n], from, err)
	}
	// A reader blocked in the poller ends with net.ErrClosed on Close,
	// which is how sipgo's read loop stops.
	done := make(chan error, 1)
	go func() {
		_, _, err := rb.readFrom(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken by Close")
	}
	if rb.writeTo([]byte("x"), a.LocalAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatal("writeTo on a closed socket reported success")
	}
	if newRawIO(nil, nil) != nil {
		t.Fatal("newRawIO(nil) should be nil")
	}
}

// TestRawIOArrivalStamp: with stamps, the wait of a datagram left in the
// socket is known (at least the time it was left there).
func TestRawIOArrivalStamp(t *testing.T) {
	a, b := udpPair(t)
	var waits []time.Duration
	ra, rb := newRawIO(a, nil), newRawIO(b, func(w time.Duration) { waits = append(waits, w) })
	if rb.observe == nil {
		t.Fatal("SO_TIMESTAMPNS refused on a UDP socket")
	}
	if !ra.writeTo([]byte("OPTIONS"), b.LocalAddr().(*net.UDPAddr).AddrPort()) {
		t.Fatal("writeTo failed")
	}
	const left = 50 * time.Millisecond
	time.Sleep(left)
	buf := make([]byte, 64)
	if _, _, err := rb.readFrom(buf); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] < left || waits[0] > time.Minute {
		t.Fatalf("waits %v for a datagram left %v in the socket", waits, left)
	}
}

// TestArrivalMalformed: control data that is short, truncated or of
// another kind gives no stamp and no panic.
func TestArrivalMalformed(t *testing.T) {
	cmsg := func(l uint64, level, typ int32, data int) []byte {
		b := make([]byte, 16+data)
		binary.NativeEndian.PutUint64(b, l)
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		return b
	}
	good := cmsg(32, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 16)
	binary.NativeEndian.PutUint64(good[16:], 1700000000)
	if at, ok := arrival(good); !ok || at.Unix() != 1700000000 {
		t.Fatalf("good stamp: %v %v", at, ok)
	}
	other := cmsg(20, unix.SOL_IP, unix.IP_PKTINFO, 8) // 20: padded to 24
	if at, ok := arrival(append(other, good...)); !ok || at.Unix() != 1700000000 {
		t.Fatalf("stamp after another message: %v %v", at, ok)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:10],
		"truncated": good[:24],
		"len 0":     cmsg(0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 16),
		"len huge":  cmsg(1<<40, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 16),
		"too small": cmsg(20, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 16),
		"other":     other,
	} {
		if _, ok := arrival(b); ok {
			t.Errorf("%s: a stamp found", name)
		}
	}
}

// TestReplierDestinations: a reply goes to the request's source unless
// another destination is set, as a sipgo response or as bytes.
func TestReplierDestinations(t *testing.T) {
	l, src := udpPair(t)
	_, other := udpPair(t)
	c := &udpConn{PacketConn: l, raw: newRawIO(l, nil)}
	r := &udpReplier{c: c, src: src.LocalAddr()}
	read := func(pc net.PacketConn) string {
		t.Helper()
		buf := make([]byte, 2048)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	wire := []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
	if err := r.ReplyWire(wire, ""); err != nil || read(src) != string(wire) {
		t.Fatal("ReplyWire to the source:", err)
	}
	if err := r.ReplyWire(wire, src.LocalAddr().String()); err != nil || read(src) != string(wire) {
		t.Fatal("ReplyWire to the source named:", err)
	}
	if err := r.ReplyWire(wire, other.LocalAddr().String()); err != nil || read(other) != string(wire) {
		t.Fatal("ReplyWire elsewhere:", err)
	}
	if err := r.ReplyWire(wire, "not-an-address"); !errors.Is(err, errNoDestination) {
		t.Fatalf("ReplyWire to a bad destination: %v", err)
	}
	res := sip.NewResponse(486, "Busy Here")
	res.SetDestination(other.LocalAddr().String())
	if err := r.Reply(res); err != nil || !strings.HasPrefix(read(other), "SIP/2.0 486 Busy Here\r\n") {
		t.Fatal("Reply elsewhere:", err)
	}
}
