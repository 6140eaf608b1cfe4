package rtpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto/genstore"
)

// MaxDatagram is the largest command read; a longer datagram is cut
// there and then refused by the grammar, as rtpengine's buffer does.
const MaxDatagram = 65535

// Server answers commands against the call registry. Commands are handled
// in order by one loop: the clients wait for each reply (Kamailio's
// module blocks its worker on it), and one command takes microseconds.
type Server struct {
	Reg *call.Registry
	Log *slog.Logger
	// CacheTTL: replies are kept by cookie CacheTTL..2*CacheTTL and
	// repeated for a retransmission (rtpengine's cookie cache; default 30s).
	CacheTTL time.Duration
	// SilentTimeout is the --silent-timeout a query counts down from.
	SilentTimeout time.Duration

	now   func() time.Time
	cache *genstore.Store
}

// Serve reads commands from conn until ctx ends, and closes conn.
func (s *Server) Serve(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	buf := make([]byte, MaxDatagram)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil // conn closed by the context
			}
			return fmt.Errorf("legacy UDP control: %w", err)
		}
		if reply := s.Handle(buf[:n], from); reply != nil {
			if _, err := conn.WriteToUDPAddrPort(reply, from); err != nil {
				s.log().Warn("legacy UDP control: reply not sent", "to", from, "err", err)
			}
		}
	}
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Handle answers one datagram; nil means no reply.
func (s *Server) Handle(b []byte, from netip.AddrPort) []byte {
	cmd, err := Parse(b)
	var m *Malformed
	switch {
	case errors.As(err, &m):
		s.log().Warn("legacy UDP control: malformed command line, answered without acting", "from", from, "line", printable(b))
		return []byte(m.Fallback())
	case errors.Is(err, ErrSyntax):
		s.log().Warn("legacy UDP control: unable to parse command line", "from", from, "line", printable(b))
		return nil
	}
	now := s.clock()
	if s.cache == nil {
		ttl := s.CacheTTL
		if ttl <= 0 {
			ttl = 30 * time.Second
		}
		s.cache = genstore.New(ttl, now)
	}
	if r, ok := s.cache.Get(now, cmd.Cookie); ok {
		s.log().Info("legacy UDP control: duplicate command, cached reply sent", "from", from, "cookie", cmd.Cookie)
		return r
	}
	var reply string
	if err != nil {
		s.log().Warn("legacy UDP control: bad command", "from", from, "err", err)
		reply = cmd.Cookie + " E8\n"
	} else {
		if cmd.Op == 'V' {
			// Not cached, as in rtpengine.
			return []byte(cmd.Cookie + " " + version(cmd) + "\n")
		}
		reply = s.run(cmd, from)
	}
	if s.cache.Put(now, cmd.Cookie, []byte(reply)) {
		s.cache.Refill()
	}
	return []byte(reply)
}

// Close releases the reply cache.
func (s *Server) Close() {
	if s.cache != nil {
		s.cache.Close()
	}
}

// version answers V (the protocol's base version) and VF (whether a
// capability, named by its version, is supported): rtpengine's answers.
func version(c *Command) string {
	if len(c.Flags) > 0 && upper(c.Flags[0]) == 'F' {
		switch c.Version {
		case "20040107", "20050322", "20060704":
			return "1"
		}
		return "0"
	}
	return "20040107"
}

func (s *Server) run(c *Command, from netip.AddrPort) string {
	switch c.Op {
	case 'U', 'L':
		return s.update(c, from)
	case 'D':
		_, err := s.Reg.Delete(call.DeleteParams{CallID: c.CallID, ViaBranch: c.ViaBranch,
			FromTag: c.FromTag, ToTag: c.ToTag, Fast: true})
		if err != nil {
			s.log().Info("legacy UDP control: delete failed", "call-id", c.CallID, "err", err)
			return c.Cookie + " E8\n"
		}
		return c.Cookie + " 0\n"
	case 'Q':
		return s.query(c)
	}
	return c.Cookie + " E8\n"
}

// update runs U (an offer from the from-tag party) or L (the to-tag
// party's answer) and answers "COOKIE PORT ADDR 4|6": where the other
// party is to send.
func (s *Server) update(c *Command, from netip.AddrPort) string {
	answer := c.Op == 'L'
	p := &call.Params{CallID: c.CallID, FromTag: c.FromTag, ToTag: c.ToTag, ViaBranch: c.ViaBranch,
		Direction: c.Directions(), Proxy: from.String()}
	ep, err := s.Reg.SignalStream(p, call.StreamUpdate{Index: c.Index, Endpoint: netip.AddrPortFrom(c.Addr, uint16(c.Port))}, answer)
	if err != nil {
		if answer && errors.Is(err, call.ErrUnknownCall) {
			// rtpengine's answer for a lookup of a call it does not know.
			return c.Cookie + " 0 0.0.0.0\n"
		}
		s.log().Warn("legacy UDP control: "+opName(c.Op)+" failed", "call-id", c.CallID, "err", err)
		return c.Cookie + " E8\n"
	}
	fam := "4"
	if !ep.Addr().Is4() {
		fam = "6"
	}
	s.log().Debug("legacy UDP control: "+opName(c.Op), "call-id", c.CallID, "port", ep.Port(), "addr", ep.Addr())
	return c.Cookie + " " + strconv.Itoa(int(ep.Port())) + " " + ep.Addr().String() + " " + fam + "\n"
}

func opName(op byte) string {
	if op == 'L' {
		return "lookup"
	}
	return "update"
}

// query answers Q: the seconds left until the silent timeout, counted from
// the last packet of the parties named (rtpengine's arithmetic: negative
// once passed), and their RTP and RTCP packets
// (rtpengine's two further counters are always 0).
func (s *Server) query(c *Command) string {
	st, err := s.Reg.Query(c.CallID, c.FromTag, c.ToTag)
	if err != nil {
		return c.Cookie + " E8\n"
	}
	// Before any packet the count starts at the call's creation, as
	// rtpengine's does from the streams'.
	last := st.Created.Unix()
	for _, t := range st.Tags {
		for _, m := range t.Medias {
			for _, ss := range m.Streams {
				if !ss.LastPacket.IsZero() && ss.LastPacket.Unix() > last {
					last = ss.LastPacket.Unix()
				}
			}
		}
	}
	left := int64(s.SilentTimeout/time.Second) - (s.clock().Unix() - last)
	return fmt.Sprintf("%s %d %d %d 0 0\n", c.Cookie, left, st.RTP.Packets, st.RTCP.Packets)
}

// printable quotes a line for a log, at most 200 bytes of it.
func printable(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strconv.Quote(string(b))
}
