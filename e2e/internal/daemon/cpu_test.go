package daemon

import (
	"net"
	"syscall"
	"testing"
)

// TestUDPDrops overflows a socket of its own (a 1-byte receive buffer,
// which the kernel rounds up to its minimum, never read) and expects the
// machine's count of such drops to rise.
func TestUDPDrops(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	raw, err := rx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1) })
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	before := UDPDrops()
	payload := make([]byte, 1000)
	for range 200 {
		_, _ = tx.Write(payload)
	}
	if after := UDPDrops(); after-before < 100 {
		t.Errorf("UDP drops rose by %d after 200 datagrams to a full socket, want at least 100", after-before)
	}
}
