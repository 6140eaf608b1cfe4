package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

// WebSocket bridge.
//
// sipgo v1.7.3 has no public way to inject a message into its transaction
// layer, and its own WS reader mishandles pings with payload and binary
// frames. So WS/WSS connections are accepted here with coder/websocket
// (subprotocol "sip", text and binary frames, ping/pong, idle timeout,
// Origin allowlist, size limit) and each one is handed to sipgo's WS or WSS
// transport through an in-memory net.Pipe carrying a clean WebSocket stream:
// one unfragmented masked text frame per SIP message, no control frames.
// sipgo thus sees a connection whose RemoteAddr is the browser's real
// address, parses it as WS/WSS, pools it under that address (so requests to
// a WS-registered contact reuse the flow) and answers on it. When either side
// closes, the other is closed too, which removes the flow from sipgo's pool.

// pipeListener hands bridged connections to sipgo's WS transport.
type pipeListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// addrConn is sipgo's side of a bridge's pipe: it overrides the pipe's
// addresses with the real socket's and tells when sipgo is done upgrading.
type addrConn struct {
	net.Conn
	local, remote net.Addr
	upgraded      chan struct{}
	once          sync.Once
}

func (c *addrConn) LocalAddr() net.Addr  { return c.local }
func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline closes upgraded when sipgo clears the deadline, which it
// does right after answering the upgrade (transport_ws.go); only then may
// the bridge close the pipe, or sipgo logs "Fail to upgrade" at error
// level for a client that merely left at once.
func (c *addrConn) SetDeadline(t time.Time) error {
	err := c.Conn.SetDeadline(t)
	if t.IsZero() {
		c.once.Do(func() { close(c.upgraded) })
	}
	return err
}

// upgradeWait bounds how long a closing bridge waits for sipgo's side of
// the upgrade; it takes microseconds unless sipgo changes how it signals.
const upgradeWait = time.Second

type bridge struct {
	m    *Manager
	sock Socket
	ln   *pipeListener
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// closed, under mu, keeps wg.Add from racing close's Wait: a
	// connection the HTTP server accepted just before close is turned
	// away instead.
	mu     sync.Mutex
	closed bool
}

func newBridge(m *Manager, s Socket, addr net.Addr) *bridge {
	ctx, cancel := context.WithCancel(context.Background())
	return &bridge{
		m:    m,
		sock: s,
		ln:   &pipeListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})},
		ctx:  ctx,
		stop: cancel,
	}
}

func (b *bridge) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.ln.Close()
	b.wg.Wait()
}

// ServeHTTP upgrades one WebSocket and bridges it until either side ends.
func (b *bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{Subprotocols: []string{"sip"}}
	if len(b.m.opts.WSOrigins) > 0 {
		opts.OriginPatterns = b.m.opts.WSOrigins
	} else {
		opts.InsecureSkipVerify = true
	}
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	opts.OnPingReceived = func(context.Context, []byte) bool {
		last.Store(time.Now().UnixNano())
		return true
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		b.m.WSRejected.Add(1)
		return
	}
	if c.Subprotocol() != "sip" {
		b.m.WSRejected.Add(1)
		c.Close(websocket.StatusProtocolError, "subprotocol sip required")
		return
	}
	if b.m.opts.MaxMessageSize > 0 {
		c.SetReadLimit(int64(b.m.opts.MaxMessageSize))
	}
	remote, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		c.Close(websocket.StatusInternalError, "bad remote address")
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()

	ours, theirs := net.Pipe()
	defer ours.Close()
	sipgoSide := &addrConn{Conn: theirs, local: b.ln.addr, remote: remote, upgraded: make(chan struct{})}
	select {
	case b.ln.conns <- sipgoSide:
	case <-ctx.Done():
		c.CloseNow()
		return
	}
	if err := clientHandshake(ours); err != nil {
		b.m.log.Warn("ws bridge handshake", "error", err)
		c.CloseNow()
		return
	}
	b.m.WSConns.Add(1)
	defer b.m.WSConns.Add(-1)

	var wg sync.WaitGroup
	wg.Add(2)
	// sipgo -> browser
	go func() {
		defer wg.Done()
		defer cancel()
		for {
			f, err := ws.ReadFrame(ours)
			if err != nil {
				return
			}
			if f.Header.OpCode == ws.OpClose {
				return
			}
			if f.Header.Masked {
				ws.Cipher(f.Payload, f.Header.Mask, 0)
			}
			if err := c.Write(ctx, websocket.MessageText, f.Payload); err != nil {
				return
			}
		}
	}()
	// browser -> sipgo
	go func() {
		defer wg.Done()
		defer cancel()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				if errors.Is(err, websocket.ErrMessageTooBig) {
					b.m.Oversized.Add(1)
				}
				return
			}
			last.Store(time.Now().UnixNano())
			f := ws.MaskFrameInPlace(ws.NewTextFrame(data))
			if err := ws.WriteFrame(ours, f); err != nil {
				return
			}
		}
	}()
	// Idle watchdog: data frames and pings count as traffic.
	idle := b.m.opts.WSIdleTimeout
	if idle > 0 {
		t := time.NewTicker(idle / 4)
		defer t.Stop()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				if time.Since(time.Unix(0, last.Load())) > idle {
					b.m.WSIdleClosed.Add(1)
					c.Close(websocket.StatusGoingAway, "idle")
					cancel()
					break loop
				}
			}
		}
	} else {
		<-ctx.Done()
	}
	wait := time.NewTimer(upgradeWait)
	select {
	case <-sipgoSide.upgraded:
	case <-wait.C:
	}
	wait.Stop()
	ours.Close()
	c.Close(websocket.StatusNormalClosure, "")
	wg.Wait()
}

// clientHandshake performs the WebSocket client handshake that sipgo's
// upgrader expects on the pipe.
func clientHandshake(c net.Conn) error {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return err
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	req := "GET / HTTP/1.1\r\nHost: sipproxy\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("write upgrade: %w", err)
	}
	// Read byte by byte so no frame bytes are buffered away.
	br := bufio.NewReaderSize(&oneByteReader{c}, 16)
	status, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read upgrade: %w", err)
	}
	if !strings.Contains(status, " 101 ") {
		return fmt.Errorf("upgrade refused: %q", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read upgrade: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	return c.SetDeadline(time.Time{})
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
