// Package ports owns the media port range: it hands out RTP/RTCP port
// pairs (even RTP port, RTCP on the next odd port), and single ports for
// media whose RTCP is multiplexed on RTP, as bound UDP sockets with the
// same numbers on every address of a logical interface. It knows nothing
// about calls; callers release what they allocate.
package ports

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/mediad/internal/rawsys"
)

// ErrExhausted is returned when no pair in the range can be bound. Its text
// is rtpengine's error-reason, which proxies match on for failover.
//
//lint:ignore ST1005 the capital is rtpengine's, on the wire
var ErrExhausted = errors.New("Ran out of ports")

// Allocator hands out port pairs from [min, max]. Free pairs sit in a FIFO
// queue that starts at a random pair; a released pair goes to the back, so
// it is reused only after every other free pair (its quarantine). A pair
// that fails to bind because someone else holds one of its ports goes to
// the back too and the next one is tried. Allocation is O(1) unless ports
// are taken by other processes. Safe for concurrent use.
//
// Single ports (AllocateOne) come from split pairs: the first takes a
// whole pair from the queue and hands out its even port, its odd port
// waits in a second FIFO for the next single allocation, and a pair whose
// two halves are free again goes back to the pair queue. So a media with
// RTCP multiplexed holds one port, as in rtpengine, and the range holds
// a third more browser-to-phone calls than with a pair on each side.
type Allocator struct {
	log   *slog.Logger
	min   int // first port of the range as configured
	max   int // last port of the range as configured
	pairs int // number of pairs in the range

	mu    sync.Mutex
	queue ring // free pair bases (even RTP ports); guarded by mu
	// halves holds free ports of split pairs; an entry whose pair has
	// joined again (or whose port is in use) is stale and skipped. A half
	// is queued again only after its pair split anew, which happens only
	// with no valid entry left, so each port is in it at most once.
	halves ring
	split  []uint8 // by pair index: splitPair, evenUsed, oddUsed; guarded by mu
	inUse  int     // ports handed out; guarded by mu
	last   int     // last RTP port handed out; guarded by mu
	// warm holds, by pair index, released pairs that kept their sockets
	// because their turn in the queue is near (see Recycle); guarded by mu.
	warm  []*Pair
	nwarm int
	// Allocation rate over the last full second, for Recycle; guarded by mu.
	winStart int64 // unix ns
	winCount int
	rate     int // pairs per second
}

// Warm sockets: creating, binding, registering and closing a socket costs
// about 11 µs of system calls on a paravirtualised host, four sockets per
// call. Under heavy churn a released pair comes round again in the queue
// within a second or two, so Recycle keeps its sockets bound (and
// the relay's registration with them) for the next allocation of the same
// pair. The queue order, and so the quarantine, is unchanged; a pair whose
// turn is not near is closed at once, as Release does, and Sweep closes
// warm pairs that waited longer than warmTTL.
const (
	warmHorizon = 2 * time.Second // keep a pair warm if its turn is expected within this
	warmTTL     = 3 * time.Second // close warm sockets unused this long
)

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
	a := &Allocator{log: log, min: min, max: max, pairs: n, queue: newRing(n), warm: make([]*Pair, n),
		halves: newRing(2 * n), split: make([]uint8, n)}
	start := rand.IntN(n)
	for i := range n {
		a.queue.push(first + 2*((start+i)%n))
	}
	return a, nil
}

// Pair is an allocated RTP/RTCP port pair, bound on one or more addresses,
// or a single port (RTCP 0: no RTCP socket) from AllocateOne.
//
// The sockets are bound with raw system calls (non-blocking, close-on-exec)
// and kept as plain descriptors: the relay reads them from its own epoll
// loops, so registering them with Go's netpoller (as net.ListenUDP does)
// would only cost an epoll_ctl on bind and another on close. Conns wraps a
// socket in a *net.UDPConn for the few users that want one.
type Pair struct {
	RTP, RTCP int // port numbers (RTCP = RTP+1, or 0 for a single port)

	addrs []netip.Addr

	mu       sync.Mutex
	rtp      []sock // parallel to addrs; guarded by mu
	rtcp     []sock
	released bool
	idle     int64 // unix ns when Recycle kept it warm
}

// sock is one bound socket: a raw descriptor, or (once Conns wrapped it) a
// *net.UDPConn, or neither once Take handed it over; parked is the user
// that took it over and handed it back with Park.
type sock struct {
	fd     int // -1: none
	conn   *net.UDPConn
	parked Parked
}

// Parked is the user of a taken socket (the relay's stream on it), handed
// back to a pair so that it can go to the pair's next user with the
// socket still bound. Close closes the socket.
type Parked interface{ Close() error }

// Single reports whether p is one port without an RTCP socket.
func (p *Pair) Single() bool { return p.RTCP == 0 }

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
	if s := p.sockAt(addr, rtcp); s != nil {
		return s.take()
	}
	return -1, false
}

// Park hands a socket taken with Take back to the pair, held by h, so that
// it survives Recycle. It reports false if the socket was not taken or the
// pair is released (then the caller still owns h).
func (p *Pair) Park(addr netip.Addr, rtcp bool, h Parked) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sockAt(addr, rtcp)
	if p.released || s == nil || s.fd >= 0 || s.conn != nil || s.parked != nil {
		return false
	}
	s.parked = h
	return true
}

// Unpark returns the user parked on the socket bound on addr, if any; the
// caller owns it from then on.
func (p *Pair) Unpark(addr netip.Addr, rtcp bool) (Parked, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sockAt(addr, rtcp)
	if p.released || s == nil || s.parked == nil {
		return nil, false
	}
	h := s.parked
	s.parked = nil
	return h, true
}

// sockAt returns the RTP or RTCP socket bound on addr; p.mu held.
func (p *Pair) sockAt(addr netip.Addr, rtcp bool) *sock {
	for i, a := range p.addrs {
		if a == addr {
			if rtcp {
				return &p.rtcp[i]
			}
			return &p.rtp[i]
		}
	}
	return nil
}

// Allocate binds an even RTP port and the following RTCP port on every
// given address (same numbers on each). It returns ErrExhausted when no
// free pair can be bound; nothing stays bound on failure.
func (a *Allocator) Allocate(addrs []netip.Addr) (*Pair, error) {
	if len(addrs) == 0 {
		return nil, errors.New("ports: no address to bind")
	}
	flushed := false
	for tries := 0; tries < a.pairs; tries++ {
		a.mu.Lock()
		base, ok := a.queue.pop()
		var w *Pair
		if ok {
			w = a.takeWarmLocked(base)
			a.countLocked(time.Now().UnixNano())
		}
		a.mu.Unlock()
		if !ok {
			return nil, ErrExhausted
		}
		if w != nil {
			if p := w.rewarm(addrs); p != nil {
				a.handedOut(base)
				return p, nil
			}
			w.closeAll() // bound on other addresses: bind afresh
		}
		p, err := bindPair(base, addrs)
		if err == nil {
			a.handedOut(base)
			return p, nil
		}
		a.mu.Lock()
		a.queue.push(base) // held elsewhere or failed: try it again much later
		a.mu.Unlock()
		if err := a.bindFailed(err, &flushed, fmt.Sprintf("%d/%d", base, base+1)); err != nil {
			return nil, err
		}
	}
	return nil, ErrExhausted
}

// bindFailed tells an allocation loop whether to go on after a failed
// bind of ports: once for lack of descriptors after closing the warm
// sockets, and past ports held by another socket; otherwise it returns
// the error to give up with.
func (a *Allocator) bindFailed(err error, flushed *bool, ports string) error {
	if !*flushed && isNoFD(err) {
		// Warm sockets hold descriptors a live call needs more.
		*flushed = true
		if a.Flush() > 0 {
			return nil
		}
	}
	if !isInUse(err) {
		return fmt.Errorf("ports: binding %s: %w", ports, err)
	}
	a.log.Debug("port in use by another socket, skipping", "ports", ports, "err", err)
	return nil
}

// Pair states in Allocator.split.
const (
	splitPair = 1 << iota // the pair's ports go out one by one
	evenUsed
	oddUsed
)

// AllocateOne binds one port, odd or even, on every given address (same
// number on each), for a media whose RTCP rides on its RTP port: the
// returned Pair has RTCP 0 and no RTCP sockets. It returns ErrExhausted
// when no free port can be bound; nothing stays bound on failure.
func (a *Allocator) AllocateOne(addrs []netip.Addr) (*Pair, error) {
	if len(addrs) == 0 {
		return nil, errors.New("ports: no address to bind")
	}
	flushed := false
	var failed map[int]bool // ports this call could not bind
	for tries := 0; tries < 2*a.pairs; tries++ {
		a.mu.Lock()
		port, ok := a.popHalfLocked(failed)
		var w *Pair
		if !ok {
			var base int
			if base, ok = a.queue.pop(); ok {
				// Split a whole pair: its even port now, its odd port
				// for the next single allocation.
				w = a.takeWarmLocked(base)
				a.countLocked(time.Now().UnixNano())
				a.split[a.index(base)] = splitPair | evenUsed
				a.halves.push(base + 1)
				port = base
			}
		}
		a.mu.Unlock()
		if !ok {
			return nil, ErrExhausted
		}
		if w != nil {
			w.closeAll() // warm as a pair: its sockets go before the bind
		}
		p, err := bindOne(port, addrs)
		if err == nil {
			a.mu.Lock()
			a.inUse++
			a.last = port
			a.mu.Unlock()
			return p, nil
		}
		// Held elsewhere or failed: the port goes to the back of the
		// halves and its pair stays split, so that the other half (next
		// in the queue if the pair was just split) can still go out.
		a.mu.Lock()
		a.split[a.index(port)] &^= halfBit(port)
		a.halves.push(port)
		a.mu.Unlock()
		if failed == nil {
			failed = make(map[int]bool)
		}
		failed[port] = true
		if err := a.bindFailed(err, &flushed, strconv.Itoa(port)); err != nil {
			return nil, err
		}
	}
	return nil, ErrExhausted
}

// popHalfLocked takes the first free port of a split pair that is not in
// skip and marks it used, dropping stale entries. Skipped ports (this
// allocation could not bind them: another program holds them) go back to
// the end, so that they cannot take every try of one allocation while
// whole pairs wait in the queue.
func (a *Allocator) popHalfLocked(skip map[int]bool) (int, bool) {
	for n := a.halves.size; n > 0; n-- {
		port, _ := a.halves.pop()
		i, bit := a.index(port), halfBit(port)
		if st := a.split[i]; st&splitPair == 0 || st&bit != 0 {
			continue
		}
		if skip[port] {
			a.halves.push(port)
			continue
		}
		a.split[i] |= bit
		return port, true
	}
	return 0, false
}

// freeHalfLocked returns a single port: its pair joins again and goes to
// the back of the pair queue if the other half is free too, otherwise the
// port goes to the back of the halves queue.
func (a *Allocator) freeHalfLocked(port int) {
	i := a.index(port)
	a.split[i] &^= halfBit(port)
	if a.split[i]&(evenUsed|oddUsed) == 0 {
		a.split[i] = 0
		a.queue.push(port &^ 1)
		return
	}
	a.halves.push(port)
}

func halfBit(port int) uint8 {
	if port%2 == 0 {
		return evenUsed
	}
	return oddUsed
}

// handedOut counts the pair at base as in use.
func (a *Allocator) handedOut(base int) {
	a.mu.Lock()
	a.inUse += 2
	a.last = base
	a.mu.Unlock()
}

// Release closes the pair's sockets and returns its numbers to the back of
// the free queue. Releasing twice is harmless.
func (a *Allocator) Release(p *Pair) { a.release(p, false, 0) }

// Recycle is Release for a pair whose sockets may be kept: if the pair's
// turn in the queue is expected within warmHorizon at the current
// allocation rate, its sockets (and the users parked on them) stay open
// for that next allocation; otherwise it is Release. Either way the pair
// goes to the back of the queue and no longer counts as in use.
func (a *Allocator) Recycle(p *Pair) {
	if p == nil {
		return
	}
	now := time.Now().UnixNano()
	a.mu.Lock()
	a.advanceLocked(now)
	rate := a.rateLocked(now)
	// A single port is never kept: its number may go to the next single
	// allocation at once, or its pair may join again.
	keep := rate > 0 && a.queue.size < rate*int(warmHorizon/time.Second) && !p.Single()
	a.mu.Unlock()
	a.release(p, keep, now)
}

// release marks p released and queues its numbers; its sockets are closed
// unless keep, which makes it warm from now on. A pair's number is queued
// at most once and loses its warm entry when handed out, so the entry is
// free here.
func (a *Allocator) release(p *Pair, keep bool, now int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	done := p.released
	p.released = true
	if !done {
		if keep {
			p.idle = now
		} else {
			p.close()
		}
	}
	p.mu.Unlock()
	if done {
		return
	}
	a.mu.Lock()
	if p.Single() {
		a.freeHalfLocked(p.RTP)
		a.inUse--
		a.mu.Unlock()
		return
	}
	if keep {
		a.warm[a.index(p.RTP)] = p
		a.nwarm++
	}
	a.queue.push(p.RTP)
	a.inUse -= 2
	a.mu.Unlock()
}

// Sweep closes warm pairs unused for warmTTL; the registry calls it on its
// timer tick.
func (a *Allocator) Sweep(now time.Time) {
	cut := now.Add(-warmTTL).UnixNano()
	var stale []*Pair
	a.mu.Lock()
	if a.nwarm > 0 {
		for i, p := range a.warm {
			if p != nil && p.idle <= cut {
				stale = append(stale, p)
				a.warm[i] = nil
				a.nwarm--
			}
		}
	}
	a.mu.Unlock()
	for _, p := range stale {
		p.closeAll()
	}
}

// Flush closes every warm pair and returns how many there were.
func (a *Allocator) Flush() int {
	var all []*Pair
	a.mu.Lock()
	if a.nwarm > 0 {
		for i, p := range a.warm {
			if p != nil {
				all = append(all, p)
				a.warm[i] = nil
			}
		}
		a.nwarm = 0
	}
	a.mu.Unlock()
	for _, p := range all {
		p.closeAll()
	}
	return len(all)
}

// Warm returns the number of released pairs whose sockets are kept.
func (a *Allocator) Warm() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nwarm
}

func (a *Allocator) index(base int) int { return (base - (a.min + a.min%2)) / 2 }

// takeWarmLocked removes and returns base's warm pair (nil if cold).
func (a *Allocator) takeWarmLocked(base int) *Pair {
	i := a.index(base)
	w := a.warm[i]
	if w != nil {
		a.warm[i] = nil
		a.nwarm--
	}
	return w
}

// countLocked counts an allocation for the rate Recycle reads.
func (a *Allocator) countLocked(now int64) {
	a.advanceLocked(now)
	a.winCount++
}

// rateProbe is how long the current second must have run before its
// rate so far counts.
const rateProbe = 100 * time.Millisecond

// rateLocked is the allocation rate Recycle plans with: the last full
// second's, or the current second's so far once it has run rateProbe if
// that is higher. With the last full second alone, the pairs released in
// the first second after load rose were closed and came round cold (fresh
// binds were 4.5% of mediad's samples in the first 2.5 s of a bench-calls
// step, 0.7% with this).
func (a *Allocator) rateLocked(now int64) int {
	rate := a.rate
	if d := now - a.winStart; d >= int64(rateProbe) {
		rate = max(rate, int(int64(a.winCount)*int64(time.Second)/d))
	}
	return rate
}

// advanceLocked closes the rate window once a second has passed.
func (a *Allocator) advanceLocked(now int64) {
	if d := now - a.winStart; d >= int64(time.Second) {
		a.rate = int(int64(a.winCount) * int64(time.Second) / d)
		if d >= 2*int64(time.Second) {
			a.rate = 0 // no allocation for a while
		}
		a.winStart, a.winCount = now, 0
	}
}

// InUse returns the number of ports handed out (two per pair, one per
// single port).
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse
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

// bindOne binds port on every address; the RTCP sockets are placeholders
// (no descriptor), so that the pair's slices stay parallel.
func bindOne(port int, addrs []netip.Addr) (*Pair, error) {
	p := &Pair{RTP: port, addrs: make([]netip.Addr, 0, len(addrs)),
		rtp: make([]sock, 0, len(addrs)), rtcp: make([]sock, 0, len(addrs))}
	for _, addr := range addrs {
		fd, err := listen(addr, port)
		if err != nil {
			p.close()
			return nil, err
		}
		p.addrs = append(p.addrs, addr)
		p.rtp = append(p.rtp, sock{fd: fd})
		p.rtcp = append(p.rtcp, sock{fd: -1})
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

// closeAll closes a warm pair no longer in the allocator's table.
func (p *Pair) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.close()
}

// rewarm hands a warm pair's sockets to a new Pair if they are bound on
// exactly addrs (nil otherwise, leaving them to the caller to close).
func (p *Pair) rewarm(addrs []netip.Addr) *Pair {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.addrs, addrs) {
		return nil
	}
	for i := range p.rtp {
		if !p.rtp[i].bound() || !p.rtcp[i].bound() {
			return nil // a socket was taken and not parked: it is gone
		}
	}
	q := &Pair{RTP: p.RTP, RTCP: p.RTCP, addrs: p.addrs, rtp: p.rtp, rtcp: p.rtcp}
	p.addrs, p.rtp, p.rtcp = nil, nil, nil
	return q
}

// bound reports whether the socket is still open, held by the pair or by
// its parked user.
func (s *sock) bound() bool { return s.fd >= 0 || s.conn != nil || s.parked != nil }

func (s *sock) close() {
	if s.parked != nil {
		_ = s.parked.Close()
		s.parked = nil
	}
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

// isNoFD reports whether a socket could not be created for lack of
// descriptors.
func isNoFD(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// ring is a fixed-capacity FIFO of ints; every pair base (or port, for
// halves) is in it at most once, so its capacity never overflows.
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
