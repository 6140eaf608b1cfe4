package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The lean generator plays n clients (n UDP sockets, one request in flight
// on each, exactly what the daemon sees from n proxy workers) from one
// thread with one epoll set. The daemons share the machine's two cores with
// it, so every microsecond it spends is taken from them: ngproto.Client
// (goroutine per worker, bencode-go decoding every reply) cost about 60 µs
// of CPU per request here, which compressed both daemons' rates. This one
// checks each reply by its cookie, "result" "ok" and (offer, answer) a
// non-empty "sdp", which is what a cycle needs.

// leanClient is one client's socket and the cycle it is in.
type leanClient struct {
	fd     int
	id     int
	cycle  int       // cycle number, part of the call-id
	step   int       // 0 offer, 1 answer, 2 delete
	seq    int       // request counter, part of the cookie
	cookie []byte    // cookie of the request in flight
	req    []byte    // the request in flight, for retransmission
	sent   time.Time // last (re)transmission
	tries  int
	start  time.Time // cycle start
	lat    []time.Duration
	errs   int
	first  string
}

var (
	okResult = []byte("6:result2:ok")
	sdpKey   = []byte("3:sdp")
)

// measureLean is measure's lean counterpart: same cycles, same call-ids,
// same retry policy (one retransmission after a second).
func measureLean(ctx context.Context, addr string, n int, warmup, d time.Duration, tag string) (result, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return result{}, fmt.Errorf("NG address %q: %w", addr, err)
	}
	// One thread does all the work: no goroutine hand-offs per datagram.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return result{}, fmt.Errorf("epoll: %w", err)
	}
	defer unix.Close(ep)
	clients := make([]*leanClient, 0, n)
	defer func() {
		for _, c := range clients {
			unix.Close(c.fd)
		}
	}()
	for i := range n {
		fd, err := dialUDP(ap)
		if err != nil {
			return result{}, err
		}
		c := &leanClient{fd: fd, id: i, lat: make([]time.Duration, 0, 1<<16)}
		clients = append(clients, c)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return result{}, fmt.Errorf("epoll_ctl: %w", err)
		}
	}

	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	prefix := fmt.Sprintf("bench-%s-%d-", tag, n)
	for _, c := range clients {
		c.start = start
		if err := c.send(prefix, start); err != nil {
			return result{}, err
		}
	}
	events := make([]unix.EpollEvent, n)
	buf := make([]byte, 65536)
	lastSweep := start
	for {
		if ctx.Err() != nil {
			return result{}, ctx.Err()
		}
		k, err := unix.EpollWait(ep, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return result{}, fmt.Errorf("epoll_wait: %w", err)
		}
		now := time.Now()
		if now.After(end) {
			break // a cycle still in flight is not counted
		}
		for _, ev := range events[:max(k, 0)] {
			// One read per event: a client has one request in flight, and
			// epoll is level-triggered should a stale duplicate be queued
			// behind the reply.
			c := clients[ev.Fd]
			m, errno := rawIO(unix.SYS_READ, c.fd, buf)
			if errno != 0 {
				continue // EAGAIN, or an ICMP error: the retry timer handles it
			}
			if c.reply(buf[:m], now, measureFrom) {
				if err := c.send(prefix, now); err != nil {
					return result{}, err
				}
			}
		}
		if now.Sub(lastSweep) >= 100*time.Millisecond {
			lastSweep = now
			for _, c := range clients {
				if now.Sub(c.sent) < time.Second {
					continue
				}
				if c.tries < 2 {
					c.tries++
					c.sent = now
					_, _ = rawIO(unix.SYS_WRITE, c.fd, c.req)
					continue
				}
				c.fail(fmt.Sprintf("%s: no reply after %d tries", stepName(c.step), c.tries), now, measureFrom)
				if err := c.send(prefix, now); err != nil {
					return result{}, err
				}
			}
		}
	}
	elapsed := time.Since(measureFrom)
	tallies := make([]tally, len(clients))
	for i, c := range clients {
		tallies[i] = tally{c.lat, c.errs, c.first}
	}
	return summarize(tallies, elapsed, warmup), nil
}

func dialUDP(ap netip.AddrPort) (int, error) {
	fam := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		fam = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %v: %w", ap, err)
	}
	return fd, nil
}

func stepName(step int) string {
	return [...]string{"offer", "answer", "delete"}[step]
}

// send builds and sends the request of the client's current step.
func (c *leanClient) send(prefix string, now time.Time) error {
	c.seq++
	c.cookie = strconv.AppendInt(strconv.AppendInt(c.cookie[:0], int64(c.id), 10), int64(c.seq), 36)
	c.cookie = append(c.cookie, '_')
	callID := prefix + strconv.Itoa(c.id) + "-" + strconv.Itoa(c.cycle)
	b := append(c.req[:0], c.cookie...)
	b = append(b, ' ', 'd')
	b = benStr(b, "call-id", callID)
	b = benStr(b, "command", stepName(c.step))
	b = benStr(b, "from-tag", "a")
	switch c.step {
	case 0:
		b = benStr(b, "sdp", benchSDPA)
	case 1:
		b = benStr(b, "sdp", benchSDPB)
		b = benStr(b, "to-tag", "b")
	}
	c.req = append(b, 'e')
	c.sent, c.tries = now, 1
	if _, errno := rawIO(unix.SYS_WRITE, c.fd, c.req); errno != 0 && errno != unix.EAGAIN && errno != unix.ECONNREFUSED {
		return fmt.Errorf("send: %w", errno)
	}
	return nil
}

// rawIO is read(2) or write(2) on a non-blocking socket through
// RawSyscall: it never blocks, and the ordinary wrappers let the scheduler
// hand the thread's P around, which costs this one-thread generator more
// than the call itself.
func rawIO(trap uintptr, fd int, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), e
}

// benStr appends one bencoded key and string value (keys in sorted order
// are the caller's business).
func benStr(b []byte, k, v string) []byte {
	b = strconv.AppendInt(b, int64(len(k)), 10)
	b = append(append(b, ':'), k...)
	b = strconv.AppendInt(b, int64(len(v)), 10)
	return append(append(b, ':'), v...)
}

// reply checks a datagram against the request in flight and advances the
// cycle; it reports whether a new request is due. Replies to earlier
// requests (late duplicates) are ignored.
func (c *leanClient) reply(b []byte, now, measureFrom time.Time) bool {
	if len(b) <= len(c.cookie) || !bytes.HasPrefix(b, c.cookie) || b[len(c.cookie)] != ' ' {
		return false
	}
	body := b[len(c.cookie)+1:]
	if !bytes.Contains(body, okResult) {
		c.fail(fmt.Sprintf("%s: %s: %.200s", stepName(c.step), errNotOK, body), now, measureFrom)
		return true
	}
	if c.step < 2 && !hasSDP(body) {
		c.fail(fmt.Sprintf("%s: %s: no sdp", stepName(c.step), errNotOK), now, measureFrom)
		return true
	}
	if c.step < 2 {
		c.step++
		return true
	}
	if !c.start.Before(measureFrom) {
		c.lat = append(c.lat, now.Sub(c.start))
	}
	c.next(now)
	return true
}

// hasSDP reports whether the reply has an "sdp" key with a non-empty value.
func hasSDP(body []byte) bool {
	i := bytes.Index(body, sdpKey)
	if i < 0 {
		return false
	}
	rest := body[i+len(sdpKey):]
	j := bytes.IndexByte(rest, ':')
	if j <= 0 {
		return false
	}
	l, err := strconv.Atoi(string(rest[:j]))
	return err == nil && l > 0
}

// fail counts an error for a cycle begun in the measurement and starts the
// next cycle.
func (c *leanClient) fail(why string, now, measureFrom time.Time) {
	if !c.start.Before(measureFrom) {
		c.errs++
		if c.first == "" {
			c.first = why
		}
	}
	c.next(now)
}

func (c *leanClient) next(now time.Time) {
	c.cycle++
	c.step = 0
	c.start = now
}
