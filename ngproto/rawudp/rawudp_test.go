package rawudp

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func fdOf(t *testing.T, c *net.UDPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestSendRecvBothFamilies(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		v6            bool
	}{{"udp4", "127.0.0.1:0", false}, {"udp6", "[::1]:0", true}} {
		a, err := net.ListenPacket(tc.network, tc.addr)
		if err != nil {
			t.Skipf("%s: %v", tc.network, err)
		}
		defer a.Close()
		b, err := net.ListenPacket(tc.network, tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		fa, fb := fdOf(t, a.(*net.UDPConn)), fdOf(t, b.(*net.UDPConn))
		buf := make([]byte, 64)
		if _, _, _, e := Recv(fb, buf, nil); e != unix.EAGAIN {
			t.Fatalf("%s: empty socket: errno %v, want EAGAIN", tc.network, e)
		}
		to := b.LocalAddr().(*net.UDPAddr).AddrPort()
		if !Send(fa, tc.v6, []byte("hello"), nil, to) {
			t.Fatalf("%s: Send failed", tc.network)
		}
		// The datagram is queued before the send returns on loopback.
		n, _, from, e := Recv(fb, buf, nil)
		if e != 0 || string(buf[:n]) != "hello" {
			t.Fatalf("%s: got %q errno %v", tc.network, buf[:n], e)
		}
		if want := a.LocalAddr().(*net.UDPAddr).AddrPort(); from != want {
			t.Fatalf("%s: from %v, want %v", tc.network, from, want)
		}
		// An address of the other family is refused, not sent wrongly.
		other := netip.MustParseAddrPort("[2001:db8::1]:5")
		if tc.v6 {
			other = netip.MustParseAddrPort("[fe80::1%1]:5")
		}
		if Send(fa, tc.v6, []byte("x"), nil, other) {
			t.Fatalf("%s: Send to %v should report false", tc.network, other)
		}
	}
}
