package transport

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestRawIOReadWriteClose(t *testing.T) {
	a, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := newRawIO(a), newRawIO(b)
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
	if newRawIO(nil) != nil {
		t.Fatal("newRawIO(nil) should be nil")
	}
}
