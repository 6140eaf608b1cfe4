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
	"time"
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
type Client struct {
	cfg  ClientConfig
	addr string
	conn *net.UDPConn
	seq  atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan []byte

	closeOnce sync.Once
	closed    chan struct{}
	readDone  chan struct{}
}

// Dial opens the UDP socket to addr ("host:port") and starts its reader.
func Dial(addr string, cfg ClientConfig) (*Client, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ngproto: resolve %s: %w", addr, err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("ngproto: dial %s: %w", addr, err)
	}
	c := &Client{
		cfg:      cfg.withDefaults(),
		addr:     addr,
		conn:     conn,
		pending:  make(map[string]chan []byte),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// Addr is the daemon address the client was dialled with.
func (c *Client) Addr() string { return c.addr }

// Close stops the reader and closes the socket. Requests in flight fail.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.conn.Close()
		<-c.readDone
	})
	return err
}

// ErrClosed is returned by Do on a closed Client or Pool.
var ErrClosed = errors.New("ngproto: client closed")

func (c *Client) readLoop() {
	defer close(c.readDone)
	buf := make([]byte, MaxMessageSize+1)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			select {
			case <-c.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNREFUSED from an ICMP error and the like: the daemon
			// may come back, and the retransmissions will tell.
			continue
		}
		sp := bytes.IndexByte(buf[:n], ' ')
		if sp <= 0 {
			continue
		}
		c.mu.Lock()
		ch := c.pending[string(buf[:sp])]
		c.mu.Unlock()
		if ch == nil {
			continue // late or foreign reply
		}
		msg := make([]byte, n)
		copy(msg, buf[:n])
		select {
		case ch <- msg:
		default: // a duplicate reply; the first one is enough
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
	msg, err := AppendMessage(nil, Message{Cookie: cookie, Body: req, Encoding: c.cfg.Encoding})
	if err != nil {
		return nil, fmt.Errorf("ngproto: encode request: %w", err)
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[cookie] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cookie)
		c.mu.Unlock()
	}()

	timer := time.NewTimer(c.cfg.Interval)
	defer timer.Stop()
	for try := 0; try < c.cfg.Retries; try++ {
		if try > 0 {
			timer.Reset(c.cfg.Interval)
		}
		// A send error (ECONNREFUSED after an ICMP unreachable) counts as
		// a lost datagram: the next try may reach a restarted daemon.
		_, _ = c.conn.Write(msg)
		select {
		case raw := <-ch:
			m, err := DecodeMessage(raw)
			if err != nil {
				return nil, fmt.Errorf("ngproto: reply from %s: %w", c.addr, err)
			}
			return m.Body, nil
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, ErrClosed
		}
	}
	return nil, fmt.Errorf("ngproto: %s after %d tries: %w", c.addr, c.cfg.Retries, ErrTimeout)
}

// Ping sends "ping" and checks for "pong".
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.Do(ctx, Dict{"command": "ping"})
	if err != nil {
		return err
	}
	if r.Result() != "pong" {
		return fmt.Errorf("ngproto: ping %s: unexpected result %q", c.addr, r.Result())
	}
	return nil
}
