package dtlssrtp

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// vconn is a net.PacketConn whose reads come from the relay's demultiplexer
// (Feed) and whose writes go to a send function choosing the peer (the ICE
// pair or the latched address), so pion/dtls never owns the socket.
type vconn struct {
	in    chan []byte
	send  func([]byte) error
	local net.Addr
	peer  net.Addr // fixed: DTLS never sees the peer address move under ICE

	mu       sync.Mutex
	closed   chan struct{}
	deadline time.Time
	dlChange chan struct{}
}

func newVConn(local netip.AddrPort, send func([]byte) error, depth int) *vconn {
	return &vconn{
		in:       make(chan []byte, depth),
		send:     send,
		local:    net.UDPAddrFromAddrPort(local),
		peer:     &net.UDPAddr{IP: net.IPv4zero, Port: 9},
		closed:   make(chan struct{}),
		dlChange: make(chan struct{}),
	}
}

// feed queues a copy of b; false when the queue is full or closed.
func (c *vconn) feed(b []byte) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	select {
	case c.in <- append([]byte(nil), b...):
		return true
	default:
		return false
	}
}

func (c *vconn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		dl, change := c.deadline, c.dlChange
		c.mu.Unlock()
		var (
			timeout <-chan time.Time
			t       *time.Timer
		)
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		n, err, again := c.wait(p, timeout, change)
		if t != nil {
			t.Stop()
		}
		if !again {
			return n, c.peer, err
		}
	}
}

// wait returns again=true when the deadline changed and must be re-read.
func (c *vconn) wait(p []byte, timeout <-chan time.Time, change <-chan struct{}) (int, error, bool) {
	select {
	case b := <-c.in:
		return copy(p, b), nil, false
	case <-c.closed:
		return 0, net.ErrClosed, false
	case <-timeout:
		return 0, os.ErrDeadlineExceeded, false
	case <-change:
		return 0, nil, true
	}
}

func (c *vconn) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if err := c.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *vconn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

func (c *vconn) LocalAddr() net.Addr { return c.local }

func (c *vconn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *vconn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.dlChange)
	c.dlChange = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *vconn) SetWriteDeadline(time.Time) error { return nil }
