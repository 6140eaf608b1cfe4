// Package ports owns the media port range: it hands out RTP/RTCP port
// pairs (even RTP port, RTCP on the next odd port) as bound UDP sockets,
// with the same numbers on every address of a logical interface. It knows
// nothing about calls; callers release what they allocate.
package ports

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"sipmedia/mediad/internal/rawsys"
)

// ErrExhausted is returned when no pair in the range can be bound. Its text
// is rtpengine's error-reason, which proxies match on for failover.
var ErrExhausted = errors.New("Ran out of ports")

// Allocator hands out port pairs from [min, max]. Free pairs sit in a FIFO
// queue that starts at a random pair; a released pair goes to the back, so
// it is reused only after every other free pair (its quarantine). A pair
// that fails to bind because someone else holds one of its ports goes to
// the back too and the next one is tried. Allocation is O(1) unless ports
// are taken by other processes. Safe for concurrent use.
type Allocator struct {
	log   *slog.Logger
	min   int // first port of the range as configured
	max   int // last port of the range as configured
	pairs int // number of pairs in the range

	mu    sync.Mutex
	queue ring // free pair bases (even RTP ports); guarded by mu
	inUse int  // pairs handed out; guarded by mu
	last  int  // last RTP port handed out; guarded by mu
}

// New creates an allocator for the inclusive port range [min, max].
func New(min, max int, log *slog.Logger) (*Allocator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("ports: invalid range %d-%d", min, max)
	}
	first := min + min%2 // first even port
	n := 0
	if max >= first+1 {
		n = (max-first-1)/2 + 1
	}
	if n == 0 {
		return nil, fmt.Errorf("ports: range %d-%d holds no even/odd pair", min, max)
	}
	a := &Allocator{log: log, min: min, max: max, pairs: n, queue: newRing(n)}
	start := rand.IntN(n)
	for i := range n {
		a.queue.push(first + 2*((start+i)%n))
	}
	return a, nil
}

// Pair is an allocated RTP/RTCP port pair, bound on one or more addresses.
//
// The sockets are bound with raw system calls (non-blocking, close-on-exec)
// and kept as plain descriptors: the relay reads them from its own epoll
// loops, so registering them with Go's netpoller (as net.ListenUDP does)
// would only cost an epoll_ctl on bind and another on close. Conns wraps a
// socket in a *net.UDPConn for the few users that want one.
type Pair struct {
	RTP, RTCP int // port numbers (RTCP = RTP+1)

	addrs []netip.Addr

	mu       sync.Mutex
	rtp      []sock // parallel to addrs; guarded by mu
	rtcp     []sock
	released bool
}

// sock is one bound socket: a raw descriptor, or (once Conns wrapped it) a
// *net.UDPConn, or neither once Take handed it over.
type sock struct {
	fd   int // -1: none
	conn *net.UDPConn
}

// Addrs returns the addresses the pair is bound on, in allocation order.
func (p *Pair) Addrs() []netip.Addr { return append([]netip.Addr(nil), p.addrs...) }

// Conns returns the RTP and RTCP sockets bound on addr as *net.UDPConn, or
// nils (also for a socket already handed over by Take). The pair keeps
// owning them: Release closes them.
func (p *Pair) Conns(addr netip.Addr) (rtp, rtcp *net.UDPConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.addrs {
		if a == addr {
			return p.rtp[i].udpConn(), p.rtcp[i].udpConn()
		}
	}
	return nil, nil
}

// Take hands the RTP (or, with rtcp, the RTCP) socket bound on addr over to
// the caller as a non-blocking descriptor: the caller closes it, Release no
// longer does. It reports false if there is none (unbound address, already
// taken, or pair released).
func (p *Pair) Take(addr netip.Addr, rtcp bool) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return -1, false
	}
	for i, a := range p.addrs {
		if a != addr {
			continue
		}
		s := &p.rtp[i]
		if rtcp {
			s = &p.rtcp[i]
		}
		return s.take()
	}
	return -1, false
}

// Allocate binds an even RTP port and the following RTCP port on every
// given address (same numbers on each). It returns ErrExhausted when no
// free pair can be bound; nothing stays bound on failure.
func (a *Allocator) Allocate(addrs []netip.Addr) (*Pair, error) {
	if len(addrs) == 0 {
		return nil, errors.New("ports: no address to bind")
	}
	for tries := 0; tries < a.pairs; tries++ {
		a.mu.Lock()
		base, ok := a.queue.pop()
		a.mu.Unlock()
		if !ok {
			return nil, ErrExhausted
		}
		p, err := bindPair(base, addrs)
		if err == nil {
			a.mu.Lock()
			a.inUse++
			a.last = base
			a.mu.Unlock()
			return p, nil
		}
		a.mu.Lock()
		a.queue.push(base) // held elsewhere or failed: try it again much later
		a.mu.Unlock()
		if !isInUse(err) {
			return nil, fmt.Errorf("ports: binding %d/%d: %w", base, base+1, err)
		}
		a.log.Debug("port pair in use by another socket, skipping", "rtp", base, "err", err)
	}
	return nil, ErrExhausted
}

// Release closes the pair's sockets and returns its numbers to the back of
// the free queue. Releasing twice is harmless.
func (a *Allocator) Release(p *Pair) {
	if p == nil {
		return
	}
	p.mu.Lock()
	done := p.released
	p.released = true
	if !done {
		p.close()
	}
	p.mu.Unlock()
	if done {
		return
	}
	a.mu.Lock()
	a.queue.push(p.RTP)
	a.inUse--
	a.mu.Unlock()
}

// InUse returns the number of ports handed out (two per pair).
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return 2 * a.inUse
}

// Total returns the number of ports in the configured range.
func (a *Allocator) Total() int { return a.max - a.min + 1 }

// Range returns the configured range.
func (a *Allocator) Range() (min, max int) { return a.min, a.max }

// LastUsed returns the RTP port of the most recent allocation (0 if none).
func (a *Allocator) LastUsed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func bindPair(base int, addrs []netip.Addr) (*Pair, error) {
	p := &Pair{RTP: base, RTCP: base + 1, addrs: make([]netip.Addr, 0, len(addrs)),
		rtp: make([]sock, 0, len(addrs)), rtcp: make([]sock, 0, len(addrs))}
	for _, addr := range addrs {
		rtp, err := listen(addr, base)
		if err != nil {
			p.close()
			return nil, err
		}
		rtcp, err := listen(addr, base+1)
		if err != nil {
			unix.Close(rtp)
			p.close()
			return nil, err
		}
		p.addrs = append(p.addrs, addr)
		p.rtp = append(p.rtp, sock{fd: rtp})
		p.rtcp = append(p.rtcp, sock{fd: rtcp})
	}
	return p, nil
}

// listen binds a non-blocking UDP socket on addr:port: socket and bind,
// nothing else. An IPv4 (or IPv4-mapped) address gets an AF_INET socket, as
// net.ListenUDP("udp4") would; an IPv6 one an AF_INET6 socket, IPv6-only
// like net.ListenUDP("udp6") (which matters for the wildcard address only).
func listen(addr netip.Addr, port int) (int, error) {
	family, network := unix.AF_INET, "udp4"
	var zone uint32
	if addr.Is6() && !addr.Is4In6() {
		family, network = unix.AF_INET6, "udp6"
		if z := addr.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				zone = uint32(ifi.Index)
			}
		}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("listen %s %s: socket: %w", network, netip.AddrPortFrom(addr, uint16(port)), os.NewSyscallError("socket", err))
	}
	if family == unix.AF_INET6 && addr.IsUnspecified() {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen %s %s: %w", network, netip.AddrPortFrom(addr, uint16(port)), os.NewSyscallError("setsockopt", err))
		}
	}
	if err := rawsys.Bind(fd, addr, port, zone); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s %s: %w", network, netip.AddrPortFrom(addr, uint16(port)), os.NewSyscallError("bind", err))
	}
	return fd, nil
}

// close closes every socket still owned by the pair; p.mu held (or p not
// yet shared).
func (p *Pair) close() {
	for i := range p.rtp {
		p.rtp[i].close()
		p.rtcp[i].close()
	}
}

func (s *sock) close() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
	if s.fd >= 0 {
		_ = rawsys.Close(s.fd)
		s.fd = -1
	}
}

// udpConn wraps the descriptor in a *net.UDPConn on first use (the
// descriptor then belongs to the conn).
func (s *sock) udpConn() *net.UDPConn {
	if s.conn != nil || s.fd < 0 {
		return s.conn
	}
	f := os.NewFile(uintptr(s.fd), "udp")
	pc, err := net.FilePacketConn(f) // duplicates the descriptor
	_ = f.Close()
	s.fd = -1
	if err != nil {
		return nil
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil
	}
	s.conn = c
	return c
}

// take hands the socket over as a descriptor the caller owns.
func (s *sock) take() (int, bool) {
	if s.fd >= 0 {
		fd := s.fd
		s.fd = -1
		return fd, true
	}
	if s.conn == nil {
		return -1, false
	}
	// Wrapped by Conns: hand over a duplicate and close the conn.
	rc, err := s.conn.SyscallConn()
	fd, derr := -1, error(nil)
	if err == nil {
		err = rc.Control(func(c uintptr) { fd, derr = unix.FcntlInt(c, unix.F_DUPFD_CLOEXEC, 0) })
	}
	_ = s.conn.Close()
	s.conn = nil
	if err != nil || derr != nil {
		return -1, false
	}
	return fd, true
}

// isInUse reports whether a bind failed because the port is taken (by
// another process or a socket outside the allocator), as opposed to a
// configuration problem such as an address that is not local.
func isInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EACCES)
}

// ring is a fixed-capacity FIFO of ints; every pair base is in it at most
// once, so capacity = number of pairs never overflows.
type ring struct {
	buf        []int
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]int, n)} }

func (r *ring) push(v int) {
	if r.size == len(r.buf) {
		return // cannot happen: each base is queued at most once
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
}

func (r *ring) pop() (int, bool) {
	if r.size == 0 {
		return 0, false
	}
	v := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return v, true
}
