package ngproto

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ClientConfig configures a Client. Zero values take the defaults that
// OpenSIPS and Kamailio use (5 tries, 1 s apart).
type ClientConfig struct {
	Retries  int           // tries per request, default 5
	Interval time.Duration // wait per try, default 1s
	// CookiePrefix starts every cookie; default is a random per-client
	// string so that two clients never share cookies in a daemon's cache.
	CookiePrefix string
	// Encoding of requests (replies come back in the same encoding).
	Encoding Encoding
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.Retries <= 0 {
		c.Retries = 5
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.CookiePrefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.CookiePrefix = hex.EncodeToString(b[:]) + "_"
	}
	return c
}

// Client talks NG to one daemon over one connected UDP socket. Many
// requests may be in flight; replies are matched by cookie.
//
// There is no reader goroutine: the callers waiting in Do take turns
// reading the socket for everybody. The one reading keeps its own reply
// and passes the others' to them; when it is done it hands the turn to
// another waiting caller, if any. With one request in flight (a proxy at
// ordinary load) the reply wakes its caller directly, where a reader
// goroutine cost a second goroutine wake-up, and usually a second thread
// wake-up, per reply.
type Client struct {
	cfg  ClientConfig
	addr string
	conn *net.UDPConn
	seq  atomic.Uint64

	mu      sync.Mutex
	pending map[string]*waiter
	raw     syscall.RawConn // conn's, for send
	reading bool            // a caller holds the turn to read (under mu)
	rbuf    []byte          // the reading caller's buffer

	closeOnce sync.Once
	closed    chan struct{}

	// bufs holds encode buffers (*[]byte): a request's bytes are needed
	// only until its Do returns.
	bufs sync.Pool

	// beforeTurn, when set by a test, runs where a caller has looked for
	// its reply and is about to take the turn to read: the race window.
	beforeTurn func()
}

// waiter is one request in flight.
type waiter struct {
	reply chan []byte   // cap 1: the reply, from whoever read it
	turn  chan struct{} // cap 1: the socket is free to read
	// gone is set (under Client.mu) when the request stops waiting for
	// good: a turn must not be handed to it any more.
	gone bool
}

// readBuffer is the receive buffer asked for a client's socket.
const readBuffer = 1 << 20

// Dial opens the UDP socket to addr ("host:port").
func Dial(addr string, cfg ClientConfig) (*Client, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ngproto: resolve %s: %w", addr, err)
	}
	conn, err := dialNotSelf(raddr)
	if err != nil {
		return nil, fmt.Errorf("ngproto: dial %s: %w", addr, err)
	}
	// Room for the replies of a burst: at thousands of requests a second
	// the default buffer (about a hundred replies) overflows in a pause of
	// a few milliseconds, and each lost reply costs its caller a whole
	// retry interval. Best effort: capped by net.core.rmem_max.
	_ = conn.SetReadBuffer(readBuffer)
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ngproto: dial %s: %w", addr, err)
	}
	return &Client{
		raw:     raw,
		cfg:     cfg.withDefaults(),
		addr:    addr,
		conn:    conn,
		pending: make(map[string]*waiter),
		rbuf:    make([]byte, MaxMessageSize+1),
		closed:  make(chan struct{}),
	}, nil
}

// send writes one datagram. A UDP send on the connected, non-blocking
// socket completes at once, so it goes through RawSyscall (see
// package rawudp); a send error counts as a lost datagram.
func (c *Client) send(msg []byte) {
	_ = c.raw.Write(func(fd uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(msg))), uintptr(len(msg)))
		return e != unix.EAGAIN // a full send buffer: wait for room as conn.Write would
	})
}

// dialNotSelf connects a UDP socket to raddr. When nothing listens there
// and raddr's port is in the ephemeral range, the kernel can give the
// socket raddr itself as its local address: every request would then come
// back as its own "reply" (seen in a test that dialled a daemon still
// starting). Such a socket is dropped and another taken.
func dialNotSelf(raddr *net.UDPAddr) (*net.UDPConn, error) {
	var self []*net.UDPConn // kept open until the end, so the port is not handed out again
	defer func() {
		for _, c := range self {
			c.Close()
		}
	}()
	for range 8 {
		conn, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			return nil, err
		}
		if la, ok := conn.LocalAddr().(*net.UDPAddr); !ok || la.Port != raddr.Port || !la.IP.Equal(raddr.IP) {
			return conn, nil
		}
		self = append(self, conn)
	}
	return nil, errors.New("the kernel keeps connecting the socket to itself")
}

// Addr is the daemon address the client was dialled with.
func (c *Client) Addr() string { return c.addr }

// Close closes the socket. Requests in flight fail with ErrClosed.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.conn.Close()
	})
	return err
}

// ErrClosed is returned by Do on a closed Client or Pool.
var ErrClosed = errors.New("ngproto: client closed")

// await waits for w's reply until deadline (nil, nil: this try timed
// out), reading the socket itself whenever nobody else does.
func (c *Client) await(ctx context.Context, w *waiter, cookie string, deadline time.Time) ([]byte, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case raw := <-w.reply:
			c.passTurn(w, true)
			return raw, nil
		default:
		}
		if c.beforeTurn != nil {
			c.beforeTurn()
		}
		c.mu.Lock()
		if !c.reading && len(w.reply) > 0 {
			// The last reader delivered it after the check above.
			c.mu.Unlock()
			continue
		}
		if !c.reading {
			c.reading = true
			c.mu.Unlock()
			raw, done, err := c.readFor(ctx, cookie, deadline)
			c.mu.Lock()
			c.reading = false
			c.mu.Unlock()
			c.passTurn(w, done)
			if done {
				return raw, err
			}
			if !time.Now().Before(deadline) {
				return nil, nil
			}
			continue
		}
		c.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case raw := <-w.reply:
			c.passTurn(w, true)
			return raw, nil
		case <-w.turn:
		case <-timer.C:
			c.passTurn(w, false)
			return nil, nil
		case <-ctx.Done():
			c.passTurn(w, true)
			return nil, ctx.Err()
		case <-c.closed:
			return nil, ErrClosed
		}
	}
}

// passTurn gives the turn to read to another waiting caller when nobody
// reads: a turn handed to w is unused when w leaves or is busy sending.
// final marks w gone in the same step, so that no turn is handed to it
// afterwards (one handed before is passed on here).
func (c *Client) passTurn(w *waiter, final bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if final {
		w.gone = true
	}
	if c.reading {
		return
	}
	for _, o := range c.pending {
		if o != w && !o.gone && len(o.reply) == 0 {
			select {
			case o.turn <- struct{}{}:
			default:
			}
			return
		}
	}
}

// readFor reads replies, passing on the others', until cookie's reply
// (done), the deadline (not done), or a reason to stop (done, with err).
func (c *Client) readFor(ctx context.Context, cookie string, deadline time.Time) (raw []byte, done bool, err error) {
	_ = c.conn.SetReadDeadline(deadline)
	// A raw read inside the poller's wait, not a system call in the
	// scheduler's sense (see the server's main loop: entering one after an
	// idle gap wakes sysmon).
	var (
		n     int
		errno unix.Errno
	)
	recv := func(fd uintptr) bool {
		r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)))
		n, errno = int(r), e
		return e != unix.EAGAIN
	}
	for {
		err := c.raw.Read(recv)
		if err == nil && errno != 0 {
			err = errno
		}
		if err != nil {
			select {
			case <-c.closed:
				return nil, true, ErrClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, true, ErrClosed
			}
			if ctx.Err() != nil {
				return nil, true, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !time.Now().Before(deadline) {
					return nil, false, nil
				}
				// Another caller's cancellation cut the read short.
				_ = c.conn.SetReadDeadline(deadline)
			}
			// ECONNREFUSED from an ICMP error and the like: the daemon
			// may come back, and the retransmissions will tell.
			continue
		}
		b := c.rbuf[:n]
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 {
			continue
		}
		if string(b[:sp]) == cookie {
			return bytes.Clone(b), true, nil
		}
		c.mu.Lock()
		o := c.pending[string(b[:sp])]
		c.mu.Unlock()
		if o != nil {
			select {
			case o.reply <- bytes.Clone(b):
			default: // a duplicate reply; the first one is enough
			}
		}
	}
}

func (c *Client) newCookie() string {
	b := make([]byte, 0, len(c.cfg.CookiePrefix)+20)
	b = append(b, c.cfg.CookiePrefix...)
	b = strconv.AppendUint(b, c.seq.Add(1), 10)
	return string(b)
}

// Do sends req and waits for the reply, resending the same datagram (same
// cookie) every Interval, Retries times in all. A reply with result
// "error" is returned as a Dict, not an error. It fails with ErrTimeout,
// the context's error, or ErrClosed.
func (c *Client) Do(ctx context.Context, req Dict) (Dict, error) {
	cookie := c.newCookie()
	buf, _ := c.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	if need := sizeHint(req) + len(cookie) + 1; cap(*buf) < need {
		*buf = make([]byte, 0, need)
	}
	msg, err := AppendMessage((*buf)[:0], Message{Cookie: cookie, Body: req, Encoding: c.cfg.Encoding})
	defer func() {
		*buf = msg[:0]
		c.bufs.Put(buf)
	}()
	if err != nil {
		return nil, fmt.Errorf("ngproto: encode request: %w", err)
	}
	select {
	case <-c.closed:
		return nil, ErrClosed
	default:
	}
	w := &waiter{reply: make(chan []byte, 1), turn: make(chan struct{}, 1)}
	c.mu.Lock()
	c.pending[cookie] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cookie)
		c.mu.Unlock()
	}()
	if ctx.Done() != nil {
		// Wake whoever reads (perhaps this call) when ctx ends.
		stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
		defer stop()
	}

	for try := 0; try < c.cfg.Retries; try++ {
		// A send error (ECONNREFUSED after an ICMP unreachable) counts as
		// a lost datagram: the next try may reach a restarted daemon.
		c.send(msg)
		raw, err := c.await(ctx, w, cookie, time.Now().Add(c.cfg.Interval))
		if err != nil {
			return nil, err
		}
		if raw != nil {
			m, err := DecodeMessage(raw)
			if err != nil {
				return nil, fmt.Errorf("ngproto: reply from %s: %w", c.addr, err)
			}
			return m.Body, nil
		}
	}
	return nil, fmt.Errorf("ngproto: %s after %d tries: %w", c.addr, c.cfg.Retries, ErrTimeout)
}

// sizeHint guesses the encoded size of req from its top-level strings (an
// offer's SDP is most of it), so that the request is written into one
// buffer instead of one grown four or five times.
func sizeHint(req Dict) int {
	n := 64
	for k, v := range req {
		n += len(k) + 8
		switch v := v.(type) {
		case string:
			n += len(v)
		case []any:
			n += 16 * len(v)
		default:
			n += 16
		}
	}
	return n
}

// Ping sends "ping" and checks for "pong".
func (c *Client) Ping(ctx context.Context) error { return ping(ctx, c.Do, c.addr) }

// ping sends "ping" through do and checks for "pong" from addr.
func ping(ctx context.Context, do func(context.Context, Dict) (Dict, error), addr string) error {
	r, err := do(ctx, Dict{"command": "ping"})
	if err != nil {
		return err
	}
	if r.Result() != "pong" {
		return fmt.Errorf("ngproto: ping %s: unexpected result %q", addr, r.Result())
	}
	return nil
}
