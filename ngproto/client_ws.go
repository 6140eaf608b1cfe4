package ngproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WSSubprotocol is the WebSocket subprotocol of NG messages (rtpengine's
// ng.rtpengine.com): each message is "<cookie> <body>", as a datagram.
const WSSubprotocol = "ng.rtpengine.com"

// wsMaxReply bounds a reply message.
const wsMaxReply = 1 << 20

// WSClient talks NG to one daemon over a WebSocket, the transport of
// Kamailio's ws:// and wss:// rtpengine sockets. It connects on the first
// request and again after the connection broke, so a daemon that is down
// when the client is made, or restarts, is reached once it is up. Many
// requests may be in flight; replies are matched by cookie.
//
// A request is sent again, with the same cookie, on a new connection
// after a broken one, and every Interval without a reply, Retries times
// in all: the daemon's reply cache answers a repeated cookie without
// doing the command twice, as over UDP.
type WSClient struct {
	cfg  ClientConfig
	url  string
	http *http.Client
	seq  atomic.Uint64

	mu      sync.Mutex
	conn    *websocket.Conn // nil: not connected
	pending map[string]chan []byte

	closeOnce sync.Once
	closed    chan struct{}
}

// DialWS makes a client for url (ws://HOST:PORT/PATH or wss://...).
// tlsConf, if not nil, configures wss (default: the system's roots). No
// connection is made yet.
func DialWS(url string, cfg ClientConfig, tlsConf *tls.Config) (*WSClient, error) {
	if !IsWSAddr(url) {
		return nil, fmt.Errorf("ngproto: %q is not a ws:// or wss:// URL", url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: http.ProxyFromEnvironment}}
	return &WSClient{
		cfg:     cfg.withDefaults(),
		url:     url,
		http:    hc,
		pending: make(map[string]chan []byte),
		closed:  make(chan struct{}),
	}, nil
}

// IsWSAddr reports a WebSocket backend address.
func IsWSAddr(addr string) bool {
	a := strings.ToLower(addr)
	return strings.HasPrefix(a, "ws://") || strings.HasPrefix(a, "wss://")
}

// Addr is the daemon's URL.
func (c *WSClient) Addr() string { return c.url }

// Close closes the connection; requests in flight fail with ErrClosed.
func (c *WSClient) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mu.Lock()
		conn := c.conn
		c.conn = nil
		c.mu.Unlock()
		if conn != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "")
		}
		c.http.CloseIdleConnections()
	})
	return nil
}

// connect returns the open connection, dialling one if needed.
func (c *WSClient) connect(ctx context.Context) (*websocket.Conn, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{Subprotocols: []string{WSSubprotocol}, HTTPClient: c.http})
	if err != nil {
		return nil, fmt.Errorf("ngproto: dial %s: %w", c.url, err)
	}
	if conn.Subprotocol() != WSSubprotocol {
		conn.CloseNow()
		return nil, fmt.Errorf("ngproto: dial %s: the daemon does not speak %s", c.url, WSSubprotocol)
	}
	conn.SetReadLimit(wsMaxReply)
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		conn.CloseNow()
		return nil, ErrClosed
	default:
	}
	if c.conn != nil { // another request connected first
		conn.CloseNow()
		return c.conn, nil
	}
	c.conn = conn
	go c.read(conn)
	return conn, nil
}

// read hands each reply on conn to its request until conn breaks.
func (c *WSClient) read(conn *websocket.Conn) {
	defer func() {
		c.mu.Lock()
		if c.conn == conn {
			c.conn = nil
		}
		c.mu.Unlock()
		conn.CloseNow()
	}()
	for {
		_, msg, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		cookie, _, ok := strings.Cut(string(msg[:min(len(msg), 256)]), " ")
		if !ok {
			continue
		}
		c.mu.Lock()
		ch := c.pending[cookie]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- msg:
			default: // a reply to a repeated request: the first one counts
			}
		}
	}
}

// drop forgets conn after a failed write.
func (c *WSClient) drop(conn *websocket.Conn) {
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
	conn.CloseNow()
}

// Do sends req and waits for the reply. A reply with result "error" is
// returned as a Dict, not an error. It fails with ErrTimeout, the
// context's error, or ErrClosed.
func (c *WSClient) Do(ctx context.Context, req Dict) (Dict, error) {
	cookie := c.cfg.CookiePrefix + strconv.FormatUint(c.seq.Add(1), 10)
	msg, err := AppendMessage(make([]byte, 0, sizeHint(req)+len(cookie)+1), Message{Cookie: cookie, Body: req, Encoding: c.cfg.Encoding})
	if err != nil {
		return nil, fmt.Errorf("ngproto: encode request: %w", err)
	}
	reply := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[cookie] = reply
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cookie)
		c.mu.Unlock()
	}()
	var lastErr error
	for try := 0; try < c.cfg.Retries; try++ {
		select {
		case <-c.closed:
			return nil, ErrClosed
		default:
		}
		deadline := time.NewTimer(c.cfg.Interval)
		conn, err := c.connect(ctx)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
			err = conn.Write(wctx, websocket.MessageBinary, msg)
			cancel()
			if err != nil {
				c.drop(conn)
				err = fmt.Errorf("ngproto: send to %s: %w", c.url, err)
			}
		}
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				deadline.Stop()
				return nil, ctx.Err()
			}
		}
		select {
		case raw := <-reply:
			deadline.Stop()
			m, err := DecodeMessage(raw)
			if err != nil {
				return nil, fmt.Errorf("ngproto: reply from %s: %w", c.url, err)
			}
			return m.Body, nil
		case <-deadline.C:
		case <-ctx.Done():
			deadline.Stop()
			return nil, ctx.Err()
		case <-c.closed:
			deadline.Stop()
			return nil, ErrClosed
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("ngproto: %s after %d tries: %w (last: %w)", c.url, c.cfg.Retries, ErrTimeout, lastErr)
	}
	return nil, fmt.Errorf("ngproto: %s after %d tries: %w", c.url, c.cfg.Retries, ErrTimeout)
}

// Ping sends "ping" and checks for "pong".
func (c *WSClient) Ping(ctx context.Context) error { return ping(ctx, c.Do, c.url) }

// Requester is what a Pool needs from a backend's client: *Client (UDP)
// and *WSClient.
type Requester interface {
	Do(ctx context.Context, req Dict) (Dict, error)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ Requester = (*Client)(nil)
	_ Requester = (*WSClient)(nil)
)

// DialAny makes the client addr calls for: a WSClient for a ws:// or
// wss:// URL, else a UDP Client for host:port.
func DialAny(addr string, cfg ClientConfig, tlsConf *tls.Config) (Requester, error) {
	if IsWSAddr(addr) {
		return DialWS(addr, cfg, tlsConf)
	}
	if strings.Contains(addr, "://") {
		return nil, fmt.Errorf("ngproto: %q: %w", addr, errScheme)
	}
	return Dial(addr, cfg)
}

var errScheme = errors.New("unsupported scheme (udp host:port, ws:// or wss://)")
