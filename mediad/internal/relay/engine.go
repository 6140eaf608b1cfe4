package relay

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Loops is the number of read loops (epoll instances, one goroutine
	// each). Zero: GOMAXPROCS.
	Loops int
	// Log receives errors of the read loops. Nil: discard.
	Log *slog.Logger
	// Coalesce is how long a read loop waits after a round that found few
	// ready sockets before it looks again, so that system calls are shared
	// by more packets; it adds at most that much latency. Zero: 1 ms.
	// Negative: never wait.
	Coalesce time.Duration
	// NoURing disables io_uring batching (receive with recvmmsg and send
	// with sendto, one system call each per packet).
	NoURing bool
}

// Engine runs the read loops and owns the streams created on it.
type Engine struct {
	log      *slog.Logger
	noRing   bool
	coalesce time.Duration
	totals   *Totals
	pollers  []*poller
	next     atomic.Uint32
	wg       sync.WaitGroup

	// Loop protection: which local ports and addresses are ours. Ports are
	// reference counted (the same number may be bound on several addresses);
	// the address list is replaced, never modified.
	localPorts []atomic.Int32 // indexed by port
	localAddrs atomic.Pointer[[]netip.Addr]

	// rate is the last full second's traffic, sampled by rateLoop.
	rate    atomic.Pointer[TotalCounts]
	stopped chan struct{}

	mu struct {
		sync.Mutex
		closed  bool
		streams map[*Stream]struct{}
	}
}

// New starts an engine's read loops.
func New(cfg Config) (*Engine, error) {
	n := cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{log: log, noRing: cfg.NoURing, coalesce: cfg.Coalesce, totals: newTotals(n), localPorts: make([]atomic.Int32, 1<<16)}
	if e.coalesce == 0 {
		e.coalesce = time.Millisecond
	}
	e.mu.streams = make(map[*Stream]struct{})
	e.stopped = make(chan struct{})
	e.rate.Store(&TotalCounts{})
	e.localAddrs.Store(&[]netip.Addr{})
	for i := range n {
		p, err := newPoller(e, &e.totals.shards[i])
		if err != nil {
			for _, q := range e.pollers {
				q.stop()
			}
			e.wg.Wait()
			for _, q := range e.pollers {
				q.closeRing()
			}
			return nil, fmt.Errorf("relay: start read loop: %w", err)
		}
		e.pollers = append(e.pollers, p)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			p.run()
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.rateLoop()
	}()
	return e, nil
}

// rateLoop samples the totals every second for Rates.
func (e *Engine) rateLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev := e.totals.Load()
	for {
		select {
		case <-e.stopped:
			return
		case <-t.C:
			cur := e.totals.Load()
			e.rate.Store(&TotalCounts{Packets: cur.Packets - prev.Packets, Bytes: cur.Bytes - prev.Bytes, Errors: cur.Errors - prev.Errors})
			prev = cur
		}
	}
}

// Rates returns the packets, bytes and errors of the last full second
// (rtpengine's "Packets/Bytes/Errors per second (userspace)").
func (e *Engine) Rates() TotalCounts { return *e.rate.Load() }

// Totals returns the engine-wide counters.
func (e *Engine) Totals() TotalCounts { return e.totals.Load() }

// NumStreams is the number of open streams.
func (e *Engine) NumStreams() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.mu.streams)
}

// NewStream takes over a bound UDP socket and starts relaying what arrives
// on it, according to the Forwarding set later. The engine keeps a duplicate
// descriptor and closes conn at once, so the Go runtime's poller no longer
// wakes for the socket; the socket stays bound until the Stream is closed.
func (e *Engine) NewStream(conn *net.UDPConn, comp Component) (*Stream, error) {
	fd, local, v6, err := takeSocket(conn)
	if err != nil {
		return nil, fmt.Errorf("relay: new stream: %w", err)
	}
	return e.newStream(fd, local, v6, comp)
}

// NewStreamFD is NewStream for a raw socket the caller hands over: fd is a
// bound, non-blocking UDP socket on local (an AF_INET socket when local's
// address is IPv4 or IPv4-mapped, AF_INET6 otherwise). The stream owns fd
// from then on, also on error. This spares the system calls of a
// *net.UDPConn (netpoller registration, duplicate, getsockname).
func (e *Engine) NewStreamFD(fd int, local netip.AddrPort, comp Component) (*Stream, error) {
	a := local.Addr()
	v6 := a.Is6() && !a.Is4In6()
	return e.newStream(fd, netip.AddrPortFrom(a.Unmap().WithZone(""), local.Port()), v6, comp)
}

func (e *Engine) newStream(fd int, local netip.AddrPort, v6 bool, comp Component) (*Stream, error) {
	s := &Stream{eng: e, comp: comp, local: local, v6: v6, fd: fd, fdDone: make(chan struct{})}

	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		closeFD(fd)
		return nil, ErrClosed
	}
	e.mu.streams[s] = struct{}{}
	e.addLocalLocked(local)
	e.mu.Unlock()

	p := e.pollers[int(e.next.Add(1))%len(e.pollers)]
	if err := p.add(s); err != nil {
		e.removeStream(s)
		return nil, fmt.Errorf("relay: new stream %s: %w", local, err)
	}
	return s, nil
}

func (e *Engine) removeStream(s *Stream) {
	e.mu.Lock()
	_, ok := e.mu.streams[s]
	if ok {
		delete(e.mu.streams, s)
		e.localPorts[s.local.Port()].Add(-1)
	}
	e.mu.Unlock()
	if !ok {
		return
	}
	// Close first: the stream is the descriptor's only holder (NewStreamFD
	// gets it handed over, NewStream closes the conn it duplicated), so
	// closing it also takes it out of the epoll set, which spares an
	// epoll_ctl(DEL) per socket. remove then only frees the slot (its
	// acquire fails). If a read loop still holds the descriptor for the rest
	// of its round, the socket closes when it lets go; until then it may
	// report the freed slot, which the loops tolerate (no stream, or a new
	// stream whose non-blocking read finds nothing).
	s.markClosed()
	if s.poller != nil {
		s.poller.remove(s)
	}
}

func (e *Engine) addLocalLocked(ap netip.AddrPort) {
	e.localPorts[ap.Port()].Add(1)
	addrs := *e.localAddrs.Load()
	if !slices.Contains(addrs, ap.Addr()) {
		n := append(slices.Clip(addrs), ap.Addr())
		e.localAddrs.Store(&n)
	}
}

// isLocal reports whether src is (probably exactly) one of our sockets: its
// port is bound by some stream and its address is one streams are bound on.
func (e *Engine) isLocal(src netip.AddrPort) bool {
	if e.localPorts[src.Port()].Load() == 0 {
		return false
	}
	a := src.Addr()
	for _, l := range *e.localAddrs.Load() {
		if l == a || l.IsUnspecified() {
			return true
		}
	}
	return false
}

// Close stops the read loops and closes every stream. Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil
	}
	e.mu.closed = true
	streams := make([]*Stream, 0, len(e.mu.streams))
	for s := range e.mu.streams {
		streams = append(streams, s)
	}
	e.mu.Unlock()

	for _, p := range e.pollers {
		p.stop()
	}
	close(e.stopped)
	e.wg.Wait()
	for _, s := range streams {
		s.Close()
	}
	for _, p := range e.pollers {
		p.closeRing()
	}
	return nil
}
