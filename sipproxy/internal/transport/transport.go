// Package transport owns sipproxy's listeners: UDP, TCP and TLS served by
// sipgo's own transports, and WS/WSS accepted with github.com/coder/websocket
// and bridged into sipgo (see ws.go). It also answers "is this flow still
// open" for the router and counts what it drops.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/config"
	"sipmedia/sipproxy/internal/overload"
)

// Options configure a Manager. Zero values mean "no limit"/"any".
type Options struct {
	TLS            *tls.Config   // server certificate for tls and wss
	WSOrigins      []string      // allowed Origin host patterns; empty: any
	WSIdleTimeout  time.Duration // close WS connections without traffic this long
	MaxMessageSize int           // larger messages are dropped (counted)
	// UDPReadBuffer is the receive buffer asked for each UDP listener
	// (SO_RCVBUF, capped by net.core.rmem_max); 0 keeps the system's.
	// Datagrams arriving while the read loop waits for a CPU queue there
	// instead of being dropped.
	UDPReadBuffer int
	// Overload, when enabled, is told how long each UDP datagram waited
	// in its socket (package overload).
	Overload *overload.Detector
}

// Socket is one bound listener as the router sees it.
type Socket struct {
	Proto string // "udp", "tcp", "tls", "ws", "wss"
	IP    string
	Port  int
}

// Transport returns the SIP transport token (UDP, TCP, TLS, WS, WSS).
func (s Socket) Transport() string { return strings.ToUpper(s.Proto) }

// Addr returns ip:port.
func (s Socket) Addr() string { return net.JoinHostPort(s.IP, fmt.Sprint(s.Port)) }

// Manager runs the listeners of one sipgo user agent.
type Manager struct {
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	opts Options
	Stats

	mu      sync.Mutex               // guards closers and writes of sockets
	sockets atomic.Pointer[[]Socket] // immutable snapshot, read per message
	closers []func() error
	udp     map[string]net.PacketConn // UDP listeners by "udp:IP:PORT", for WriteUDP
	wg      sync.WaitGroup

	stateless         StatelessHandler // set before Start (stateless.go)
	statelessPrefixes [][]byte
}

// New returns a Manager serving on srv (built on ua).
func New(log *slog.Logger, ua *sipgo.UserAgent, srv *sipgo.Server, opts Options) *Manager {
	return &Manager{log: log, ua: ua, srv: srv, opts: opts}
}

// Sockets lists the bound listeners (ports resolved when 0 was asked).
// The slice is shared: callers must not modify it.
func (m *Manager) Sockets() []Socket {
	if p := m.sockets.Load(); p != nil {
		return *p
	}
	return nil
}

// Start binds every listener and serves until Close.
func (m *Manager) Start(ctx context.Context, ls []config.Listen) error {
	for _, l := range ls {
		if err := m.start(ctx, l); err != nil {
			m.Close()
			return fmt.Errorf("listen %s: %w", l, err)
		}
	}
	return nil
}

func (m *Manager) add(s Socket, closer func() error, serve func() error) {
	m.mu.Lock()
	next := append(append([]Socket(nil), m.Sockets()...), s)
	m.sockets.Store(&next)
	m.closers = append(m.closers, closer)
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			m.log.Warn("listener stopped", "socket", s.Proto+":"+s.Addr(), "error", err)
		}
	}()
}

func (m *Manager) start(ctx context.Context, l config.Listen) error {
	var lc net.ListenConfig
	switch l.Proto {
	case "udp":
		pc, err := lc.ListenPacket(ctx, "udp", l.Addr())
		if err != nil {
			return err
		}
		if uc, ok := pc.(*net.UDPConn); ok && m.opts.UDPReadBuffer > 0 {
			if err := uc.SetReadBuffer(m.opts.UDPReadBuffer); err != nil {
				m.log.Warn("udp receive buffer", "error", err)
			}
		}
		a := pc.LocalAddr().(*net.UDPAddr)
		s := Socket{"udp", a.IP.String(), a.Port}
		wrapped := m.wrapUDP(pc, s)
		m.mu.Lock()
		if m.udp == nil {
			m.udp = map[string]net.PacketConn{}
		}
		m.udp[s.Proto+":"+s.Addr()] = wrapped
		m.mu.Unlock()
		m.add(s, pc.Close, func() error { return m.srv.ServeUDP(wrapped) })
	case "tcp", "tls":
		ln, err := lc.Listen(ctx, "tcp", l.Addr())
		if err != nil {
			return err
		}
		a := ln.Addr().(*net.TCPAddr)
		s := Socket{l.Proto, a.IP.String(), a.Port}
		if l.Proto == "tcp" {
			m.add(s, ln.Close, func() error { return m.srv.ServeTCP(ln) })
		} else {
			if m.opts.TLS == nil {
				ln.Close()
				return errors.New("tls listener without certificate")
			}
			tln := tls.NewListener(ln, m.opts.TLS)
			m.add(s, ln.Close, func() error { return m.srv.ServeTLS(tln) })
		}
	case "ws", "wss":
		ln, err := lc.Listen(ctx, "tcp", l.Addr())
		if err != nil {
			return err
		}
		a := ln.Addr().(*net.TCPAddr)
		s := Socket{l.Proto, a.IP.String(), a.Port}
		if l.Proto == "wss" {
			if m.opts.TLS == nil {
				ln.Close()
				return errors.New("wss listener without certificate")
			}
			ln = tls.NewListener(ln, m.opts.TLS)
		}
		b := newBridge(m, s, ln.Addr())
		// What net/http logs here is mostly clients (scanners, the
		// readiness probe of scripts/run.sh) leaving a TLS handshake:
		// debug, through slog rather than bare lines on stderr.
		hs := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelDebug)}
		// The listener first, so no client is upgraded while the
		// bridges end.
		m.add(s, func() error { err := hs.Close(); b.close(); return err }, func() error {
			// sipgo serves the bridged side; see ws.go.
			go func() {
				var err error
				if l.Proto == "ws" {
					err = m.srv.ServeWS(b.ln)
				} else {
					err = m.srv.ServeWSS(b.ln)
				}
				if err != nil && !errors.Is(err, net.ErrClosed) {
					m.log.Warn("ws bridge stopped", "error", err)
				}
			}()
			return hs.Serve(ln)
		})
	default:
		return fmt.Errorf("unknown protocol %q", l.Proto)
	}
	return nil
}

// Close stops every listener and waits for the serve loops.
func (m *Manager) Close() error {
	m.mu.Lock()
	closers := m.closers
	m.closers = nil
	m.mu.Unlock()
	var err error
	for _, c := range closers {
		err = errors.Join(err, c())
	}
	m.wg.Wait()
	return err
}

// WriteUDP sends b from the UDP listener socket ("udp:IP:PORT", as a
// registration records its socket) to to: what keeps a NAT binding open
// must come from the address the client registered with.
func (m *Manager) WriteUDP(socket string, to netip.AddrPort, b []byte) error {
	m.mu.Lock()
	pc := m.udp[socket]
	m.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("no UDP listener %s", socket)
	}
	if _, err := pc.WriteTo(b, net.UDPAddrFromAddrPort(to)); err != nil {
		return fmt.Errorf("udp write to %s: %w", to, err)
	}
	return nil
}

// FlowOpen reports whether a connection-oriented flow to addr (ip:port) over
// transport (TCP, TLS, WS, WSS) is still open. UDP is always "open".
func (m *Manager) FlowOpen(transport, addr string) bool {
	if !sip.IsReliable(transport) {
		return true
	}
	pool := m.ua.TransportLayer().Pool(transport)
	if pool == nil {
		return false
	}
	c := pool.Get(addr)
	if c == nil {
		return false
	}
	// Get took a reference; give it back without closing.
	c.TryClose()
	return true
}
