package ngproto

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"sipmedia/ngproto/genstore"
)

// Handler answers one decoded NG command. req always has a string
// "command". The returned Dict is the reply; nil is answered with an
// error reply.
type Handler interface {
	ServeNG(ctx context.Context, req Dict, from netip.AddrPort) Dict
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Dict, from netip.AddrPort) Dict

// ServeNG calls f.
func (f HandlerFunc) ServeNG(ctx context.Context, req Dict, from netip.AddrPort) Dict {
	return f(ctx, req, from)
}

// ReasonInternal answers a handler that panicked or returned nothing.
const ReasonInternal = "Internal error"

// Server is the NG framing around a Handler: cookie handling, a reply
// cache keyed by cookie alone (rtpengine's cookie_cache.c: two generations
// rotated every CacheTTL, so a reply is kept CacheTTL..2*CacheTTL),
// duplicates in flight waiting for the original's reply, and concurrent
// handling.
type Server struct {
	Handler  Handler
	Logger   *slog.Logger
	CacheTTL time.Duration // default 30s (entries live TTL..2*TTL)
	// MaxConcurrent bounds requests handled at once by Serve (default 4).
	// Requests are handled inline by the loop that read them; loops beyond
	// the first run only while requests queue up (see udpLoop).
	MaxConcurrent int

	now func() time.Time // tests replace the clock

	mu       sync.Mutex
	cache    *genstore.Store    // finished replies by cookie
	inflight map[string]*flight // cookies being handled
	flights  sync.Pool          // *flight without waiters, for reuse

	scratch sync.Pool // *[]byte: reply encoding buffers
}

// flight is a request being handled. done is made only when a duplicate
// arrives meanwhile (rare), and closed once reply is set.
type flight struct {
	done  chan struct{}
	reply []byte
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Server) ttl() time.Duration {
	if s.CacheTTL > 0 {
		return s.CacheTTL
	}
	return 30 * time.Second
}

// lookupOrStart returns a copy of the cached reply for cookie, or the
// flight that handles it and whether this caller owns it (must handle the
// request and finish the flight). Generations rotate lazily on access.
func (s *Server) lookupOrStart(cookie string, now time.Time) (reply []byte, f *flight, owner bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache, s.inflight = genstore.New(s.ttl(), now), make(map[string]*flight)
	}
	if r, ok := s.cache.Get(now, cookie); ok {
		return r, nil, false
	}
	if f, ok := s.inflight[cookie]; ok {
		if f.done == nil {
			f.done = make(chan struct{})
		}
		return nil, f, false
	}
	f, _ = s.flights.Get().(*flight)
	if f == nil {
		f = new(flight)
	}
	s.inflight[cookie] = f
	return nil, f, true
}

// finish caches a copy of the reply and hands another to duplicates
// waiting for it (reply itself is the owner's scratch buffer).
func (s *Server) finish(cookie string, f *flight, reply []byte, now time.Time) {
	s.mu.Lock()
	refill := s.cache.Put(now, cookie, reply)
	delete(s.inflight, cookie)
	if f.done != nil {
		f.reply = append([]byte(nil), reply...)
		close(f.done) // f stays with its waiters
	} else {
		s.flights.Put(f)
	}
	s.mu.Unlock()
	if refill {
		s.cache.Refill() // outside the lock
	}
}

// CacheLen is the number of cached replies (both generations).
func (s *Server) CacheLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		return 0
	}
	return s.cache.Len() + len(s.inflight)
}

// Process handles one framed datagram and returns the framed reply (nil =
// drop). Used by HTTP POST /ng; Serve uses handle, which spares the copy.
func (s *Server) Process(ctx context.Context, datagram []byte, from netip.AddrPort) []byte {
	scratch := s.getScratch()
	defer s.scratch.Put(scratch)
	reply := s.handle(ctx, datagram, from, scratch)
	if reply == nil {
		return nil
	}
	return append([]byte(nil), reply...)
}

func (s *Server) getScratch() *[]byte {
	scratch, _ := s.scratch.Get().(*[]byte)
	if scratch == nil {
		b := make([]byte, 0, 4096)
		scratch = &b
	}
	return scratch
}

// handle is Process with the reply valid until scratch goes back to the
// pool: the encoded reply in *scratch, or a copy from the cache.
func (s *Server) handle(ctx context.Context, datagram []byte, from netip.AddrPort, scratch *[]byte) []byte {
	sp := bytes.IndexByte(datagram, ' ')
	if sp <= 0 {
		s.logger().Warn("ngproto: dropping NG data without cookie", "from", from, "len", len(datagram))
		return nil
	}
	cookie := string(datagram[:sp])
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	t := now()
	cached, f, owner := s.lookupOrStart(cookie, t)
	if cached != nil {
		s.logger().Info("ngproto: duplicate command answered from cache", "from", from, "cookie", cookie)
		return cached
	}
	if !owner {
		select {
		case <-f.done:
			s.logger().Info("ngproto: duplicate command answered once handled", "from", from, "cookie", cookie)
			return f.reply
		case <-ctx.Done():
			return nil
		}
	}
	*scratch = s.process(ctx, datagram, from, (*scratch)[:0])
	s.finish(cookie, f, *scratch, t)
	return *scratch
}

// ProcessPlain handles an NG body without cookie (HTTP /ng-plain): no
// cache, the reply body without cookie.
func (s *Server) ProcessPlain(ctx context.Context, body []byte, from netip.AddrPort) []byte {
	d, enc, err := DecodeBody(body)
	var reply Dict
	if err != nil {
		reply = ErrorReply(Reason(err))
	} else {
		reply = s.dispatch(ctx, d, from)
	}
	out, err := EncodeBody(reply, enc)
	if err != nil {
		out, _ = EncodeBody(ErrorReply(ReasonInternal), enc)
	}
	return out
}

func (s *Server) process(ctx context.Context, datagram []byte, from netip.AddrPort, dst []byte) []byte {
	m, err := DecodeMessage(datagram)
	var reply Dict
	if err != nil {
		s.logger().Warn("ngproto: protocol error", "from", from, "cookie", m.Cookie, "reason", Reason(err), "err", err)
		reply = ErrorReply(Reason(err))
	} else {
		reply = s.dispatch(ctx, m.Body, from)
	}
	// Encoded into the caller's scratch buffer: the cache keeps its own
	// copy.
	out, err := AppendMessage(dst, Message{Cookie: m.Cookie, Body: reply, Encoding: m.Encoding})
	if err != nil {
		s.logger().Error("ngproto: cannot encode reply", "from", from, "cookie", m.Cookie, "err", err)
		out, _ = AppendMessage(dst[:0], Message{Cookie: m.Cookie, Body: ErrorReply(ReasonInternal), Encoding: m.Encoding})
	}
	return out
}

// dispatch checks for a command and calls the handler, turning a panic
// into an error reply.
func (s *Server) dispatch(ctx context.Context, req Dict, from netip.AddrPort) (reply Dict) {
	if _, ok := req["command"].(string); !ok {
		return ErrorReply(Reason(ErrNoCommand))
	}
	if s.Handler == nil {
		return ErrorReply(Reason(ErrNoHandler))
	}
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("ngproto: handler panic", "from", from, "command", req["command"],
				"call-id", req.Str("call-id"), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply = ErrorReply(ReasonInternal)
		}
	}()
	reply = s.Handler.ServeNG(ctx, req, from)
	if reply == nil {
		return ErrorReply(ReasonInternal)
	}
	return reply
}

// Serve reads datagrams from conn and answers them until ctx is done or
// conn is closed (both return nil; conn stays the caller's to close). On a
// socket bound to a wildcard address each reply is sent from the local
// address its request reached (IP_PKTINFO / IPV6_PKTINFO).
func (s *Server) Serve(ctx context.Context, conn *net.UDPConn) error {
	log := s.logger()
	local, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	var p4 *ipv4.PacketConn
	var p6 *ipv6.PacketConn
	if local.Addr().IsUnspecified() {
		if local.Addr().Is4() {
			p4 = ipv4.NewPacketConn(conn)
			if err := p4.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
				log.Warn("ngproto: no IP_PKTINFO, replies leave by routing", "err", err)
				p4 = nil
			}
		} else {
			p6 = ipv6.NewPacketConn(conn)
			if err := p6.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
				log.Warn("ngproto: no IPV6_PKTINFO, replies leave by routing", "err", err)
				p6 = nil
			}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	workers := s.MaxConcurrent
	if workers <= 0 {
		workers = 4
	}
	return s.serveUDP(ctx, conn, p4, p6, workers)
}

// dstAddr extracts the local address a datagram reached from its control
// message; invalid when unknown. An IPv6 address carries the interface
// index as its zone, which link-local sources need.
func dstAddr(p4 *ipv4.PacketConn, p6 *ipv6.PacketConn, oob []byte) netip.Addr {
	switch {
	case p4 != nil && len(oob) > 0:
		var cm ipv4.ControlMessage
		if cm.Parse(oob) == nil && cm.Dst != nil {
			a, _ := netip.AddrFromSlice(cm.Dst.To4())
			return a
		}
	case p6 != nil && len(oob) > 0:
		var cm ipv6.ControlMessage
		if cm.Parse(oob) == nil && cm.Dst != nil {
			a, _ := netip.AddrFromSlice(cm.Dst)
			if a.Is6() && !a.Is4In6() && cm.IfIndex > 0 {
				a = a.WithZone(strconv.Itoa(cm.IfIndex))
			}
			return a
		}
	}
	return netip.Addr{}
}

func writeFrom(conn *net.UDPConn, b []byte, to netip.AddrPort, src netip.Addr) error {
	if !src.IsValid() {
		_, err := conn.WriteToUDPAddrPort(b, to)
		return err
	}
	_, _, err := conn.WriteMsgUDPAddrPort(b, srcControl(src), to)
	return err
}

// srcControl is the control message that makes a reply leave from src (nil
// for none).
func srcControl(src netip.Addr) []byte {
	if !src.IsValid() {
		return nil
	}
	if src.Is4() || src.Is4In6() {
		// IPv4 (also to a v4-mapped peer on a dual-stack socket, where
		// Linux honours IP_PKTINFO but not a mapped IPV6_PKTINFO source)
		cm := ipv4.ControlMessage{Src: src.Unmap().AsSlice()}
		return cm.Marshal()
	}
	cm := ipv6.ControlMessage{Src: src.WithZone("").AsSlice()}
	if src.IsLinkLocalUnicast() {
		cm.IfIndex, _ = strconv.Atoi(src.Zone())
	}
	return cm.Marshal()
}
