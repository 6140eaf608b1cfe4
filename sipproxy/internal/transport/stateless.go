package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Inline handling of UDP datagrams.
//
// sipgo hands every message it reads to a new goroutine and builds a server
// transaction for every request (with a 32 s timer for a REGISTER over
// UDP). A registrar does not need either: OpenSIPS' and Kamailio's save()
// answer REGISTER without a transaction. And a goroutine per response lets
// a 180 and a 200 sent back to back reach their client transaction in
// either order (the 180 is then lost). So a UDP listener is served to sipgo
// through udpConn, whose ReadFrom first offers the datagrams a
// StatelessHandler asks for to that handler, inline and in arrival order,
// and passes on to sipgo only what the handler declines. Everything else
// goes to sipgo untouched and unparsed.

// StatelessHandler takes messages read on a UDP listener before sipgo.
//
// Serve answers requests of Methods without a transaction; it returns false
// to hand the request to sipgo instead (it must not have replied then).
// It answers through reply, which it may keep and use more than once.
//
// Response (optional) is offered every response; it returns false to hand
// it to sipgo. It runs in the read loop, so it must not block.
type StatelessHandler struct {
	Methods  []string // request methods offered to Serve; others go to sipgo
	Serve    func(req *sip.Request, in Socket, reply Replier) bool
	Response func(res *sip.Response) bool
}

// Replier answers a request read on a UDP listener, through that
// listener.
type Replier interface {
	// Reply sends res to the destination set on it (res.Destination(),
	// ip:port) or, when none is set, to the request's source.
	Reply(res *sip.Response) error
	// ReplyWire sends a response already serialised to dst (ip:port),
	// or to the request's source when dst is "": for a response the
	// caller also keeps as bytes, so it is serialised once.
	ReplyWire(wire []byte, dst string) error
}

// udpReplier is the Replier of one datagram's request.
type udpReplier struct {
	c   *udpConn
	src net.Addr
}

func (r *udpReplier) Reply(res *sip.Response) error {
	return r.c.reply(res, r.src)
}

func (r *udpReplier) ReplyWire(wire []byte, dst string) error {
	return r.c.replyWire(wire, dst, r.src)
}

// SetStateless installs h for the UDP listeners started afterwards.
func (m *Manager) SetStateless(h StatelessHandler) {
	m.stateless = h
	m.statelessPrefixes = nil
	for _, meth := range h.Methods {
		m.statelessPrefixes = append(m.statelessPrefixes, []byte(meth+" "))
	}
	if h.Response != nil {
		m.statelessPrefixes = append(m.statelessPrefixes, []byte("SIP/2.0 "))
	}
}

// udpConn is a UDP listener as sipgo reads it.
type udpConn struct {
	net.PacketConn
	raw    *rawIO // nil: the PacketConn's own calls
	m      *Manager
	sock   Socket
	parser *sip.Parser

	// sipgo's connection for this listener, and the last source handed
	// to sipgo's pool: sipgo sends a response over UDP only to an
	// address its pool knows, and its read loop adds every source it
	// sees; the datagrams taken here must be known the same way.
	sipgoConn sip.Connection
	lastSrc   string
}

func (m *Manager) wrapUDP(pc net.PacketConn, s Socket) net.PacketConn {
	if m.stateless.Serve == nil && m.stateless.Response == nil {
		return pc
	}
	var observe func(time.Duration)
	if m.opts.Overload.Enabled() {
		observe = m.opts.Overload.Observe
	}
	return &udpConn{PacketConn: pc, raw: newRawIO(pc, observe), m: m, sock: s, parser: sip.NewParser()}
}

// ReadFrom returns the next datagram sipgo must handle.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.readFrom(b)
		if err != nil || !c.wants(b[:n]) || !c.serve(b[:n], addr) {
			return n, addr, err
		}
	}
}

func (c *udpConn) readFrom(b []byte) (int, net.Addr, error) {
	if c.raw != nil {
		return c.raw.readFrom(b)
	}
	return c.PacketConn.ReadFrom(b)
}

// WriteTo is how sipgo and the router send on the listener.
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && c.raw != nil && c.raw.writeTo(b, ua.AddrPort()) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *udpConn) wants(data []byte) bool {
	for _, p := range c.m.statelessPrefixes {
		if bytes.HasPrefix(data, p) {
			return true
		}
	}
	return false
}

// serve handles one datagram statelessly; false passes it to sipgo.
func (c *udpConn) serve(data []byte, addr net.Addr) bool {
	info := sip.TransportReadProps{Transport: "UDP", LocalAddr: c.LocalAddr(), RemoteAddr: addr}
	if out, _ := c.m.Filter(info, data); len(out) == 0 {
		return true // dropped (and counted) by the filter
	}
	msg, err := c.parser.ParseSIP(data)
	if err != nil {
		c.m.ParseFailed.Add(1)
		c.m.log.Debug("stateless: parse failed", "source", addr.String(), "error", err)
		return true
	}
	src := addr.String()
	msg.SetTransport("UDP")
	msg.SetSource(src)
	c.remember(src)
	switch msg := msg.(type) {
	case *sip.Request:
		return c.m.stateless.Serve != nil &&
			c.m.stateless.Serve(msg, c.sock, &udpReplier{c: c, src: addr})
	case *sip.Response:
		return c.m.stateless.Response != nil && c.m.stateless.Response(msg)
	}
	return false
}

// remember adds src to sipgo's UDP pool as sipgo's own read loop does.
func (c *udpConn) remember(src string) {
	if src == c.lastSrc || c.m.ua == nil {
		return
	}
	pool := c.m.ua.TransportLayer().Pool("udp")
	if pool == nil {
		return
	}
	if c.sipgoConn == nil {
		// Serve put the listener in the pool before reading.
		c.sipgoConn = pool.Get(c.LocalAddr().String())
		if c.sipgoConn == nil {
			return
		}
	}
	pool.Add(src, c.sipgoConn)
	c.lastSrc = src
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var errNoDestination = errors.New("bad response destination")

// replyDst is d (ip:port) or, when d is "" or the source itself, src.
func replyDst(d string, src net.Addr) (net.Addr, error) {
	if d == "" {
		return src, nil
	}
	ap, err := netip.ParseAddrPort(d)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", errNoDestination, d, err)
	}
	if ua, ok := src.(*net.UDPAddr); ok {
		if sp := ua.AddrPort(); sp.Port() == ap.Port() && sp.Addr().Unmap() == ap.Addr().Unmap() {
			return src, nil
		}
	}
	return net.UDPAddrFromAddrPort(ap), nil
}

func (c *udpConn) reply(res *sip.Response, src net.Addr) error {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	res.StringWrite(buf)
	return c.replyWire(buf.Bytes(), res.Destination(), src)
}

// replyWire sends a serialised response to d (ip:port), or to src when d
// is "".
func (c *udpConn) replyWire(wire []byte, d string, src net.Addr) error {
	dst, err := replyDst(d, src)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(wire, dst); err != nil {
		return fmt.Errorf("udp reply to %s: %w", dst, err)
	}
	return nil
}
