package ngproto

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"sipmedia/ngproto/rawudp"
)

// udpLoop is Serve's machinery. One main loop reads through Go's poller
// and handles each datagram inline. Extra loops ("drains") run only
// while datagrams queue up: they read without waiting (MSG_DONTWAIT on a
// duplicate of the descriptor, since the main loop holds the conn's read
// lock while it waits) and park when the queue is empty, until the next
// backlog or drainIdle.
//
// Why not MaxConcurrent loops all blocked in Read: Go lets one of them
// wait in the poller and parks the others on the conn's read lock, so
// every datagram woke a second loop (and usually a second thread) just to
// find nothing and park again. With one client at a time that hand-off
// cost more CPU than the command (NG cycle 638-689 µs of CPU against
// 378-489 µs with one loop). Concurrency still comes when it helps: the
// main loop starts a drain when it keeps finding datagrams queued behind
// the one it read (drainBacklog), and a
// watchdog does so every watchTick while a slow command holds the main
// loop (a duplicate waiting for its original, a long CLI command).
type udpLoop struct {
	srv  *Server
	conn *net.UDPConn
	fd   int // duplicate of conn's descriptor, for the drains' reads
	rc   syscall.RawConn
	p4   *ipv4.PacketConn
	p6   *ipv6.PacketConn
	max  int32
	v6   bool // fd is an AF_INET6 socket (for rawudp.Send's addresses)

	active atomic.Int32 // loops handling or reading, main loop included
	seen   atomic.Uint64
	// idle is set by the watchdog when it stops ticking; the main loop
	// pokes it awake on the next datagram.
	idle atomic.Bool
	poke chan struct{}
	wg   sync.WaitGroup // drains
	// wake hands a burst to a parked drain (unbuffered: a send succeeds
	// only if one is waiting).
	wake chan struct{}
	// bufs keeps the receive buffers of drains that ended (drainIdle)
	// for the next ones: 64 KiB each would otherwise be garbage.
	bufs sync.Pool
}

// rxBuf is one loop's datagram and control-message buffers.
type rxBuf struct{ data, oob []byte }

func newRxBuf() *rxBuf {
	return &rxBuf{data: make([]byte, MaxMessageSize+1), oob: make([]byte, 256)}
}

const (
	// drainBacklog is how many datagrams in a row the main loop reads
	// with another already waiting before it starts a drain. Two
	// requests arriving together are the normal burst of a busy proxy,
	// and the main loop handles the second a few dozen µs later; a drain
	// for it cost a thread wake-up, a goroutine and its exit, 10-15% of
	// the daemon's CPU per call. A queue that stays non-empty is a
	// backlog worth a second loop.
	drainBacklog = 4
	watchTick    = 10 * time.Millisecond
	// drainIdle is how long a drain stays parked without a burst.
	drainIdle = 10 * time.Second
	// watchIdleTicks without a datagram put the watchdog to sleep, so an
	// idle daemon does not wake up 100 times a second.
	watchIdleTicks = 100
)

func (s *Server) serveUDP(ctx context.Context, conn *net.UDPConn, p4 *ipv4.PacketConn, p6 *ipv6.PacketConn, workers int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	defer unix.Close(fd)
	l := &udpLoop{srv: s, conn: conn, fd: fd, rc: rc, p4: p4, p6: p6, max: int32(workers), poke: make(chan struct{}, 1), wake: make(chan struct{})}
	if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil {
		l.v6 = dom == unix.AF_INET6
	}
	l.bufs.New = func() any { return newRxBuf() }
	l.active.Store(1)

	// loopCtx ends the watchdog and the parked drains once the main loop
	// has returned (on ctx or a closed conn).
	loopCtx, stopLoops := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		l.watch(loopCtx)
	}()
	l.main(loopCtx)
	stopLoops()
	<-watchDone
	l.wg.Wait()
	return nil
}

func (l *udpLoop) main(ctx context.Context) {
	log := l.srv.logger()
	rb := newRxBuf()
	buf, oob := rb.data, rb.oob
	// The read itself is a raw non-blocking recvmsg inside the poller's
	// wait (rc.Read), not a system call in the scheduler's sense: after an
	// idle gap, entering a system call wakes the runtime's sysmon thread,
	// which then polls every 20 µs for a while. At a few hundred requests
	// a second that was most of the daemon's context switches.
	var (
		n, oobn int
		from    netip.AddrPort
		errno   unix.Errno
		backlog int // datagrams read in a row with another one waiting
	)
	recv := func(fd uintptr) bool {
		n, oobn, from, errno = rawudp.Recv(int(fd), buf, oob)
		return errno != unix.EAGAIN
	}
	for {
		if err := l.rc.Read(recv); err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			log.Warn("ngproto: read error", "err", err)
			continue
		}
		if errno != 0 || !from.IsValid() {
			if errno != unix.EINTR {
				log.Warn("ngproto: read error", "err", errno)
			}
			continue
		}
		// Dekker-style with watch: count first, then look at idle.
		l.seen.Add(1)
		if l.idle.Load() && l.idle.CompareAndSwap(true, false) {
			select {
			case l.poke <- struct{}{}:
			default:
			}
		}
		if l.active.Load() < l.max {
			if l.queued() {
				backlog++
			} else {
				backlog = 0
			}
			if backlog >= drainBacklog {
				backlog = 0
				l.spawn(ctx)
			}
		}
		l.handle(ctx, buf[:n], oob[:oobn], from)
	}
}

// queued reports whether another datagram waits in the socket.
func (l *udpLoop) queued() bool {
	// RawSyscall: see package rawudp.
	var n int32
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SIOCINQ, uintptr(unsafe.Pointer(&n)))
	return e == 0 && n > 0
}

// spawn starts a drain unless max loops already run: a parked one if
// there is one, else a new one.
func (l *udpLoop) spawn(ctx context.Context) {
	for {
		a := l.active.Load()
		if a >= l.max {
			return
		}
		if l.active.CompareAndSwap(a, a+1) {
			break
		}
	}
	select {
	case l.wake <- struct{}{}: // a parked drain takes it (unbuffered)
		return
	default:
	}
	l.wg.Add(1)
	go l.drain(ctx)
}

// drain reads until the queue is empty, then parks for the next burst
// (spawn wakes it) and ends after drainIdle without one. Parking keeps
// its grown stack: a goroutine per burst, started and ended, was 3% of
// mediad's CPU in bench-calls (its stack grew by copying every time).
func (l *udpLoop) drain(ctx context.Context) {
	defer l.wg.Done()
	rb := l.bufs.Get().(*rxBuf)
	defer l.bufs.Put(rb)
	idle := time.NewTimer(drainIdle)
	defer idle.Stop()
	for {
		l.drainQueue(ctx, rb)
		l.active.Add(-1)
		idle.Reset(drainIdle)
		select {
		case <-l.wake: // counted active again by spawn
		case <-idle.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (l *udpLoop) drainQueue(ctx context.Context, rb *rxBuf) {
	buf, oob := rb.data, rb.oob
	for ctx.Err() == nil {
		n, oobn, from, errno := rawudp.Recv(l.fd, buf, oob)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return // EAGAIN: the queue is empty
		}
		l.seen.Add(1)
		if from.IsValid() {
			l.handle(ctx, buf[:n], oob[:oobn], from)
		}
	}
}

func (l *udpLoop) handle(ctx context.Context, b, oob []byte, from netip.AddrPort) {
	scratch := l.srv.getScratch()
	defer l.srv.scratch.Put(scratch)
	reply := l.srv.handle(ctx, b, from, scratch)
	if reply == nil {
		return
	}
	src := dstAddr(l.p4, l.p6, oob)
	if rawudp.Send(l.fd, l.v6, reply, srcControl(src), from) {
		return
	}
	if err := writeFrom(l.conn, reply, from, src); err != nil {
		l.srv.logger().Warn("ngproto: cannot send reply", "to", from, "err", err)
	}
}

// watch starts drains while datagrams wait and every loop is busy, which
// the main loop cannot notice while a slow command holds it.
func (l *udpLoop) watch(ctx context.Context) {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	last, quiet := l.seen.Load(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.active.Load() < l.max && l.queued() {
			l.spawn(ctx)
		}
		if n := l.seen.Load(); n != last {
			last, quiet = n, 0
			continue
		}
		if quiet++; quiet < watchIdleTicks {
			continue
		}
		// Go to sleep, then look again at the count (see main): a
		// datagram counted after this store pokes us.
		l.idle.Store(true)
		if l.seen.Load() != last && l.idle.CompareAndSwap(true, false) {
			continue
		}
		t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-l.poke:
		}
		last, quiet = l.seen.Load(), 0
		t.Reset(watchTick)
	}
}
