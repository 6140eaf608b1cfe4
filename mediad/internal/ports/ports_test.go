package ports

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.77") // a loopback address other tests do not use
	lo6 = netip.MustParseAddr("::1")
)

// freeRange finds n consecutive ports (starting even) that are free on
// lo4 and lo6 right now, in a region away from the default media range.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 200; try++ {
		base := 44000 + 2*rand.IntN(2500) // away from the ranges the daemon tests use
		ok := true
		var held []*net.UDPConn
		for p := base; p < base+n && ok; p++ {
			for _, a := range []netip.Addr{lo4, lo6} {
				c, err := listenUDP(a, p)
				if err != nil {
					ok = false
					break
				}
				held = append(held, c)
			}
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}

func TestAllocatePairsOnAllAddresses(t *testing.T) {
	base := freeRange(t, 20)
	a, err := New(base, base+19, nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4, lo6}
	p, err := a.Allocate(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(p)
	if p.RTP%2 != 0 || p.RTCP != p.RTP+1 || p.RTP < base || p.RTCP > base+19 {
		t.Fatalf("pair %d/%d outside %d-%d or misaligned", p.RTP, p.RTCP, base, base+19)
	}
	for _, addr := range addrs {
		rtp, rtcp := p.Conns(addr)
		if rtp == nil || rtcp == nil {
			t.Fatalf("no sockets on %v", addr)
		}
		if got := rtp.LocalAddr().(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(addr, uint16(p.RTP)) {
			t.Errorf("rtp bound on %v", got)
		}
		if got := rtcp.LocalAddr().(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(addr, uint16(p.RTCP)) {
			t.Errorf("rtcp bound on %v", got)
		}
		// The sockets are real: a datagram sent to the RTP port arrives.
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(p.RTP))))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		c.Close()
		buf := make([]byte, 10)
		if n, _, err := rtp.ReadFromUDPAddrPort(buf); err != nil || n != 1 {
			t.Errorf("read on rtp socket: %d %v", n, err)
		}
	}
	if rtp, rtcp := p.Conns(netip.MustParseAddr("127.0.0.2")); rtp != nil || rtcp != nil {
		t.Error("Conns for an unbound address returned sockets")
	}
	if a.InUse() != 2 || a.Total() != 20 {
		t.Errorf("InUse=%d Total=%d", a.InUse(), a.Total())
	}
}

func TestExhaustionLeaksNothing(t *testing.T) {
	base := freeRange(t, 4)
	a, err := New(base, base+3, nil) // two pairs
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4, lo6}
	p1, err1 := a.Allocate(addrs)
	p2, err2 := a.Allocate(addrs)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if p1.RTP == p2.RTP {
		t.Fatal("same pair handed out twice")
	}
	if _, err := a.Allocate(addrs); !errors.Is(err, ErrExhausted) || err.Error() != "Ran out of ports" {
		t.Fatalf("third allocation: %v", err)
	}
	a.Release(p1)
	a.Release(p1) // harmless
	if a.InUse() != 2 {
		t.Errorf("InUse after release = %d", a.InUse())
	}
	// Released ports are really closed: a foreign socket can take them.
	for _, addr := range addrs {
		for _, port := range []int{p1.RTP, p1.RTCP} {
			c, err := listenUDP(addr, port)
			if err != nil {
				t.Errorf("port %v:%d still bound after release: %v", addr, port, err)
				continue
			}
			c.Close()
		}
	}
	p3, err := a.Allocate(addrs)
	if err != nil || p3.RTP != p1.RTP {
		t.Fatalf("reallocation: %v %v", p3, err)
	}
	a.Release(p2)
	a.Release(p3)
	if a.InUse() != 0 {
		t.Errorf("InUse = %d", a.InUse())
	}
}

func TestForeignSocketIsSkipped(t *testing.T) {
	base := freeRange(t, 4)
	a, err := New(base, base+3, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the RTCP port of the first pair on ::1 only.
	foreign, err := listenUDP(lo6, base+1)
	if err != nil {
		t.Fatal(err)
	}
	defer foreign.Close()
	addrs := []netip.Addr{lo4, lo6}
	p, err := a.Allocate(addrs)
	if err != nil {
		t.Fatal(err)
	}
	if p.RTP != base+2 {
		t.Fatalf("allocated %d, want %d (the pair not held by the foreign socket)", p.RTP, base+2)
	}
	// Nothing of the failed attempt stayed bound: base on lo4 is free.
	c, err := listenUDP(lo4, base)
	if err != nil {
		t.Fatalf("partial bind leaked: %v", err)
	}
	c.Close()
	// The only other pair is held: exhausted, and still nothing leaked.
	if _, err := a.Allocate(addrs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, want ErrExhausted", err)
	}
	if c, err := listenUDP(lo4, base); err != nil {
		t.Fatalf("partial bind leaked after exhaustion: %v", err)
	} else {
		c.Close()
	}
	// Once the foreign socket is gone the pair becomes usable.
	foreign.Close()
	q, err := a.Allocate(addrs)
	if err != nil || q.RTP != base {
		t.Fatalf("after foreign close: %v %v", q, err)
	}
	a.Release(p)
	a.Release(q)
}

func TestQuarantineAndRandomStart(t *testing.T) {
	base := freeRange(t, 40)
	starts := map[int]bool{}
	for range 8 {
		a, err := New(base, base+39, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Allocate([]netip.Addr{lo4})
		if err != nil {
			t.Fatal(err)
		}
		starts[p.RTP] = true
		a.Release(p)
		// A released pair is not handed out again while others are free.
		seen := map[int]bool{}
		var held []*Pair
		for range 19 {
			q, err := a.Allocate([]netip.Addr{lo4})
			if err != nil {
				t.Fatal(err)
			}
			if q.RTP == p.RTP {
				t.Fatalf("released pair %d reused while %d others were free", p.RTP, 19-len(held))
			}
			seen[q.RTP] = true
			held = append(held, q)
		}
		if q, err := a.Allocate([]netip.Addr{lo4}); err != nil || q.RTP != p.RTP {
			t.Fatalf("last free pair: %v %v", q, err)
		} else {
			held = append(held, q)
		}
		for _, q := range held {
			a.Release(q)
		}
	}
	if len(starts) < 2 {
		t.Errorf("8 allocators all started at %v: start is not random", starts)
	}
}

func TestConcurrentAllocateRelease(t *testing.T) {
	base := freeRange(t, 200)
	a, err := New(base, base+199, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[int]bool{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 24 { // 8*12 held at most: fits the 100 pairs
				p, err := a.Allocate([]netip.Addr{lo4})
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				mu.Lock()
				if held[p.RTP] {
					t.Errorf("pair %d handed out twice", p.RTP)
				}
				held[p.RTP] = true
				mu.Unlock()
				release := func() {
					mu.Lock()
					delete(held, p.RTP)
					mu.Unlock()
					a.Release(p)
				}
				if i%2 == 0 {
					release()
				} else {
					defer release() // held until the goroutine ends
				}
			}
		}()
	}
	wg.Wait()
	if a.InUse() != 0 {
		t.Errorf("InUse = %d after all released", a.InUse())
	}
}

func TestNewErrors(t *testing.T) {
	for _, r := range [][2]int{{0, 10}, {10, 5}, {100, 70000}, {31, 31}, {31, 32}} {
		if _, err := New(r[0], r[1], nil); err == nil {
			t.Errorf("New(%d, %d) accepted", r[0], r[1])
		}
	}
	if a, err := New(31, 33, nil); err != nil || a.pairs != 1 {
		t.Errorf("New(31,33): %v", err)
	}
	a, _ := New(40000, 40001, nil)
	if _, err := a.Allocate(nil); err == nil {
		t.Error("Allocate(nil) succeeded")
	}
	// An address that is not local is a configuration error, not exhaustion.
	if _, err := a.Allocate([]netip.Addr{netip.MustParseAddr("192.0.2.99")}); err == nil || errors.Is(err, ErrExhausted) {
		t.Errorf("non-local address: %v", err)
	}
}

func BenchmarkAllocateRelease(b *testing.B) {
	a, err := New(50000, 51999, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := a.Allocate([]netip.Addr{lo4})
		if err != nil {
			b.Fatal(err)
		}
		a.Release(p)
	}
}

// listenUDP binds a socket the way another program would (through the
// net package), outside the allocator.
func listenUDP(addr netip.Addr, port int) (*net.UDPConn, error) {
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
}

func TestTakeHandsOverTheSocket(t *testing.T) {
	base := freeRange(t, 2)
	a, err := New(base, base+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Allocate([]netip.Addr{lo4})
	if err != nil {
		t.Fatal(err)
	}
	fd, ok := p.Take(lo4, true)
	if !ok {
		t.Fatal("Take of the RTCP socket failed")
	}
	if _, ok := p.Take(lo4, true); ok {
		t.Error("second Take of the same socket succeeded")
	}
	if _, ok := p.Take(netip.MustParseAddr("127.0.0.2"), false); ok {
		t.Error("Take for an unbound address succeeded")
	}
	if _, rtcp := p.Conns(lo4); rtcp != nil {
		t.Error("Conns returned a taken socket")
	}
	a.Release(p)
	// The taken socket is the caller's: still bound after Release.
	if c, err := listenUDP(lo4, base+1); err == nil {
		c.Close()
		t.Fatal("taken socket was closed by Release")
	}
	if sa, err := unix.Getsockname(fd); err != nil || sa.(*unix.SockaddrInet4).Port != base+1 {
		t.Errorf("taken descriptor: %v %v", sa, err)
	}
	unix.Close(fd)
	// The untaken RTP socket was closed by Release.
	c, err := listenUDP(lo4, base)
	if err != nil {
		t.Fatalf("rtp port still bound after release: %v", err)
	}
	c.Close()
	if _, ok := p.Take(lo4, false); ok {
		t.Error("Take after Release succeeded")
	}
}

// parkedFD stands in for the relay stream a caller parks on a pair.
type parkedFD struct {
	fd     int
	closed bool
}

func (p *parkedFD) Close() error {
	if !p.closed {
		p.closed = true
		return unix.Close(p.fd)
	}
	return nil
}

// churn allocates and recycles n pairs, the last second's rate that makes
// Recycle keep sockets warm.
func churn(t *testing.T, a *Allocator, addrs []netip.Addr, n int) {
	t.Helper()
	for range n {
		p, err := a.Allocate(addrs)
		if err != nil {
			t.Fatal(err)
		}
		a.Recycle(p)
	}
}

// fourPairs returns an allocator of four pairs on free ports, and its
// first port. Warm pairs left at the end are closed.
func fourPairs(t *testing.T) (*Allocator, int) {
	t.Helper()
	base := freeRange(t, 8)
	a, err := New(base, base+7, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Flush() })
	return a, base
}

// TestRecycleSeesALoadStepEarly: churn starting after a quiet spell keeps
// sockets warm once it has run rateProbe, not only after a whole second.
func TestRecycleSeesALoadStepEarly(t *testing.T) {
	a, _ := fourPairs(t)
	addrs := []netip.Addr{lo4}
	churn(t, a, addrs, 40)
	if a.Warm() != 0 {
		t.Fatalf("%d warm pairs before the churn has run %v", a.Warm(), rateProbe)
	}
	time.Sleep(rateProbe + 20*time.Millisecond)
	churn(t, a, addrs, 1)
	if a.Warm() != 1 {
		t.Fatalf("%d warm pairs after %v of churn, want 1", a.Warm(), rateProbe)
	}
}

func TestRecycleKeepsSocketsWarmUnderChurn(t *testing.T) {
	a, base := fourPairs(t)
	addrs := []netip.Addr{lo4}
	// A quiet allocator closes what is released, as Release does.
	churn(t, a, addrs, 1)
	if a.Warm() != 0 {
		t.Fatalf("%d warm pairs without churn", a.Warm())
	}
	// A second of churn well above the range's size makes the next pair's
	// turn come within warmHorizon.
	churn(t, a, addrs, 40)
	time.Sleep(time.Second + 50*time.Millisecond)

	p, err := a.Allocate(addrs)
	if err != nil {
		t.Fatal(err)
	}
	fd, ok := p.Take(lo4, false)
	if !ok {
		t.Fatal("no RTP socket to take")
	}
	h := &parkedFD{fd: fd}
	if !p.Park(lo4, false, h) || p.Park(lo4, false, h) {
		t.Fatal("Park: first must succeed, second must not")
	}
	rtp := p.RTP
	a.Recycle(p)
	if a.Warm() != 1 || a.InUse() != 0 {
		t.Fatalf("after recycle under churn: warm %d, in use %d", a.Warm(), a.InUse())
	}
	if h.closed {
		t.Fatal("parked socket closed by a warm recycle")
	}
	// Its port stays bound while warm.
	if c, err := listenUDP(lo4, rtp); err == nil {
		c.Close()
		t.Fatal("warm port could be bound by someone else")
	}
	// The queue comes round to it: the same socket is handed out again,
	// still parked on the new pair.
	var q *Pair
	for range 4 {
		x, err := a.Allocate(addrs)
		if err != nil {
			t.Fatal(err)
		}
		if x.RTP == rtp {
			q = x
			break
		}
		a.Release(x)
	}
	if q == nil {
		t.Fatal("recycled pair never came round")
	}
	got, ok := q.Unpark(lo4, false)
	if !ok || got != h {
		t.Fatalf("Unpark = %v %v, want the parked socket", got, ok)
	}
	if _, ok := q.Unpark(lo4, false); ok {
		t.Fatal("a socket unparked twice")
	}
	if !q.Park(lo4, false, h) {
		t.Fatal("park again")
	}
	// Not wanted on other addresses: closed, and the pair bound afresh.
	a.Recycle(q)
	r, err := a.Allocate([]netip.Addr{lo6})
	for err == nil && r.RTP != rtp {
		a.Release(r)
		r, err = a.Allocate([]netip.Addr{lo6})
	}
	if err != nil {
		t.Fatal(err)
	}
	if !h.closed {
		t.Fatal("warm socket on another address not closed")
	}
	a.Release(r)

	// Sweep closes warm pairs that waited too long.
	churn(t, a, addrs, 1)
	if a.Warm() == 0 {
		t.Fatal("no warm pair to sweep")
	}
	a.Sweep(time.Now().Add(warmTTL / 2))
	if a.Warm() == 0 {
		t.Fatal("swept a pair before its time")
	}
	a.Sweep(time.Now().Add(warmTTL + time.Second))
	if a.Warm() != 0 {
		t.Fatalf("%d warm pairs after sweep", a.Warm())
	}
	for p := base; p < base+8; p++ {
		c, err := listenUDP(lo4, p)
		if err != nil {
			t.Fatalf("port %d still bound after sweep: %v", p, err)
		}
		c.Close()
	}
}

func TestFlushClosesWarmPairs(t *testing.T) {
	a, base := fourPairs(t)
	addrs := []netip.Addr{lo4}
	churn(t, a, addrs, 40)
	time.Sleep(time.Second + 50*time.Millisecond)
	churn(t, a, addrs, 3)
	if n := a.Warm(); n == 0 {
		t.Fatal("no warm pairs")
	}
	if n := a.Flush(); n == 0 || a.Warm() != 0 {
		t.Fatalf("Flush = %d, warm after %d", n, a.Warm())
	}
	for p := base; p < base+8; p++ {
		c, err := listenUDP(lo4, p)
		if err != nil {
			t.Fatalf("port %d still bound after flush: %v", p, err)
		}
		c.Close()
	}
}

// Single ports fill the range one by one (odd ports too), a pair comes
// back only when both of its halves are free, and the port counts follow.
func TestSinglePorts(t *testing.T) {
	base := freeRange(t, 4)
	a, err := New(base, base+3, nil) // two pairs
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4, lo6}
	var singles []*Pair
	seen := map[int]bool{}
	for i := 0; i < 3; i++ {
		p, err := a.AllocateOne(addrs)
		if err != nil {
			t.Fatalf("single %d: %v", i, err)
		}
		if !p.Single() || p.RTCP != 0 || seen[p.RTP] || p.RTP < base || p.RTP > base+3 {
			t.Fatalf("single %d: port %d/%d (seen %v)", i, p.RTP, p.RTCP, seen)
		}
		seen[p.RTP] = true
		for _, addr := range addrs {
			rtp, rtcp := p.Conns(addr)
			if rtp == nil || rtcp != nil {
				t.Fatalf("single %d on %v: sockets %v %v", i, addr, rtp, rtcp)
			}
			if got := rtp.LocalAddr().(*net.UDPAddr).AddrPort(); got != netip.AddrPortFrom(addr, uint16(p.RTP)) {
				t.Errorf("bound on %v", got)
			}
		}
		if _, ok := p.Take(addrs[0], true); ok {
			t.Error("a single port handed out an RTCP socket")
		}
		singles = append(singles, p)
	}
	if a.InUse() != 3 {
		t.Errorf("InUse = %d, want 3", a.InUse())
	}
	// One port left, in a split pair: no whole pair, one more single.
	if _, err := a.Allocate(addrs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("pair with one port free: %v", err)
	}
	last, err := a.AllocateOne(addrs)
	if err != nil {
		t.Fatal(err)
	}
	singles = append(singles, last)
	if _, err := a.AllocateOne(addrs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("fifth single: %v", err)
	}
	// Free one half of each pair: still no pair, but two singles.
	byPair := map[int][]*Pair{}
	for _, p := range singles {
		byPair[p.RTP&^1] = append(byPair[p.RTP&^1], p)
	}
	if len(byPair) != 2 {
		t.Fatalf("singles %v not from two pairs", seen)
	}
	var keep []*Pair
	for _, ps := range byPair {
		a.Release(ps[0])
		keep = append(keep, ps[1])
	}
	if _, err := a.Allocate(addrs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("pair with halves in use: %v", err)
	}
	// The freed half is really closed and comes back as a single.
	again, err := a.AllocateOne(addrs)
	if err != nil {
		t.Fatal(err)
	}
	a.Release(again)
	// Both halves of a pair free: it is a pair again.
	a.Release(keep[0])
	p, err := a.Allocate(addrs)
	if err != nil || p.Single() || p.RTP != keep[0].RTP&^1 {
		t.Fatalf("joined pair: %v %v (want base %d)", p, err, keep[0].RTP&^1)
	}
	if a.InUse() != 3 {
		t.Errorf("InUse = %d, want 3 (pair and one single)", a.InUse())
	}
	a.Recycle(keep[1]) // a single is never kept warm
	a.Release(p)
	if a.InUse() != 0 || a.Warm() != 0 {
		t.Errorf("InUse = %d, Warm = %d after releasing all", a.InUse(), a.Warm())
	}
	for port := base; port <= base+3; port++ {
		for _, addr := range addrs {
			c, err := listenUDP(addr, port)
			if err != nil {
				t.Errorf("port %v:%d still bound: %v", addr, port, err)
				continue
			}
			c.Close()
		}
	}
	// Everything is whole again: two pairs.
	p1, err1 := a.Allocate(addrs)
	p2, err2 := a.Allocate(addrs)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	a.Release(p1)
	a.Release(p2)
}

// A single port held by another process is skipped, and a warm pair split
// for a single port gives up its sockets first.
func TestSinglePortSkipsForeignAndWarm(t *testing.T) {
	base := freeRange(t, 2)
	a, err := New(base, base+1, nil) // one pair
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4}
	foreign, err := listenUDP(lo4, base)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.AllocateOne(addrs)
	if err != nil || p.RTP != base+1 {
		t.Fatalf("single with %d held elsewhere: %v %v", base, p, err)
	}
	foreign.Close()
	a.Release(p)
	// Keep the pair warm (a high allocation rate), then split it.
	a.mu.Lock()
	a.rate = 1000
	a.winStart = time.Now().UnixNano()
	a.mu.Unlock()
	q, err := a.Allocate(addrs)
	if err != nil {
		t.Fatal(err)
	}
	a.Recycle(q)
	if a.Warm() != 1 {
		t.Fatalf("Warm = %d", a.Warm())
	}
	s, err := a.AllocateOne(addrs)
	if err != nil || s.RTP != base || a.Warm() != 0 {
		t.Fatalf("single from a warm pair: %v %v, warm %d", s, err, a.Warm())
	}
	a.Release(s)
}

// A random mix of pairs and single ports never hands a port out twice,
// counts what it hands out, and gets the whole range back.
func TestPairsAndSinglesRandomly(t *testing.T) {
	const n = 16
	base := freeRange(t, n)
	a, err := New(base, base+n-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4}
	held := map[int]*Pair{} // by port
	var live []*Pair
	rng := rand.New(rand.NewPCG(1, 2))
	for step := 0; step < 3000; step++ {
		switch op := rng.IntN(3); {
		case op < 2 && len(live) < n:
			alloc, want := a.Allocate, 2
			if op == 1 {
				alloc, want = a.AllocateOne, 1
			}
			p, err := alloc(addrs)
			if errors.Is(err, ErrExhausted) {
				free := n - a.InUse()
				if want == 1 && free > 0 {
					t.Fatalf("step %d: no single port with %d free", step, free)
				}
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			ports := []int{p.RTP}
			if !p.Single() {
				ports = append(ports, p.RTCP)
			}
			for _, port := range ports {
				if q := held[port]; q != nil {
					t.Fatalf("step %d: port %d handed out twice", step, port)
				}
				held[port] = p
			}
			live = append(live, p)
		case len(live) > 0:
			i := rng.IntN(len(live))
			p := live[i]
			live = append(live[:i], live[i+1:]...)
			delete(held, p.RTP)
			delete(held, p.RTCP)
			a.Release(p)
		}
		if a.InUse() != len(held) {
			t.Fatalf("step %d: InUse %d, %d ports held", step, a.InUse(), len(held))
		}
	}
	for _, p := range live {
		a.Release(p)
	}
	for i := 0; i < n/2; i++ {
		if _, err := a.Allocate(addrs); err != nil {
			t.Fatalf("pair %d of %d after releasing all: %v", i+1, n/2, err)
		}
	}
}

// A pair another program holds both ports of does not starve single
// allocations: once its halves failed, AllocateOne splits the next pair
// instead of trying them over and over (it answered "Ran out of ports"
// with every other pair free).
func TestSinglePortsPastAForeignPair(t *testing.T) {
	const n = 8
	base := freeRange(t, n)
	a, err := New(base, base+n-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{lo4}
	// The pair the queue hands out first, held elsewhere.
	a.mu.Lock()
	first := a.queue.buf[a.queue.head]
	a.mu.Unlock()
	for _, port := range []int{first, first + 1} {
		c, err := listenUDP(lo4, port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var got []*Pair
	for i := 0; i < 3; i++ {
		p, err := a.AllocateOne(addrs)
		if err != nil {
			t.Fatalf("single %d with pair %d held elsewhere: %v", i, first, err)
		}
		if p.RTP == first || p.RTP == first+1 {
			t.Fatalf("single %d got port %d, which another socket holds", i, p.RTP)
		}
		got = append(got, p)
	}
	for _, p := range got {
		a.Release(p)
	}
	if a.InUse() != 0 {
		t.Fatalf("InUse = %d after the releases", a.InUse())
	}
}
