package kmod

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sipmedia/kmod/nettopo"
)

// standIn is a tiny userspace relay in R: two bound sockets, latching the
// first source seen on each and forwarding to the other side's peer.
type standIn struct {
	a, b   *net.UDPConn
	reads  atomic.Int64
	mu     sync.Mutex
	peerA  netip.AddrPort
	peerB  netip.AddrPort
	wg     sync.WaitGroup
	closed atomic.Bool
}

// newStandIn binds the relay sockets; a non-zero mark is set as SO_MARK.
func newStandIn(t *testing.T, topo *nettopo.Topology, la, lb netip.AddrPort, mark uint32) *standIn {
	t.Helper()
	a, err := nettopo.ListenUDP(topo.R, la)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nettopo.ListenUDP(topo.R, lb)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	s := &standIn{a: a, b: b}
	if mark != 0 {
		for _, c := range []*net.UDPConn{a, b} {
			rc, err := c.SyscallConn()
			if err == nil {
				err = MarkSocket(rc, mark)
			}
			if err != nil {
				a.Close()
				b.Close()
				t.Fatal(err)
			}
		}
	}
	s.wg.Add(2)
	go s.loop(a, b, &s.peerA, &s.peerB)
	go s.loop(b, a, &s.peerB, &s.peerA)
	t.Cleanup(s.close)
	return s
}

func (s *standIn) loop(in, out *net.UDPConn, from, to *netip.AddrPort) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.reads.Add(1)
		s.mu.Lock()
		*from = src // latch
		dst := *to
		s.mu.Unlock()
		if dst.IsValid() {
			out.WriteToUDPAddrPort(buf[:n], dst)
		}
	}
}

func (s *standIn) close() {
	if s.closed.Swap(true) {
		return
	}
	s.a.Close()
	s.b.Close()
	s.wg.Wait()
}

type datagram struct {
	from netip.AddrPort
	data string
}

// recvN reads datagrams until n arrived or the deadline passes.
func recvN(c *net.UDPConn, n int, wait time.Duration) []datagram {
	var out []datagram
	buf := make([]byte, 2048)
	deadline := time.Now().Add(wait)
	for len(out) < n {
		c.SetReadDeadline(deadline)
		k, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		out = append(out, datagram{src, string(buf[:k])})
	}
	return out
}

// drain reads whatever arrives within wait.
func drain(c *net.UDPConn, wait time.Duration) []datagram {
	return recvN(c, 1<<30, wait)
}

// newCall builds the A - R - B topology with the stand-in relay on R
// (sockets marked mark) between localA and localB, and the endpoints'
// sockets on A (peerA) and B (peerB): the IPv4 call most tests use.
func newCall(t *testing.T, mark uint32) (*nettopo.Topology, *standIn, *net.UDPConn, *net.UDPConn) {
	t.Helper()
	topo := newTopo(t)
	return topo, newStandIn(t, topo, localA, localB, mark), listen(t, topo.A, peerA), listen(t, topo.B, peerB)
}
