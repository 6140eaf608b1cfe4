package call

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"sipmedia/mediad/internal/sdp"
)

// MaxStreamIndex bounds the media index of a stream update: the SDP the
// update stands for has that many m= lines.
const MaxStreamIndex = 32

// StreamUpdate is one media of rtpengine's legacy UDP protocol (rtpproxy's
// U and L commands, package rtpproxy): instead of an SDP body the proxy
// names one media by index and the party's address and port for it (RTCP
// on the next port). The proxy rewrites its SDP itself.
type StreamUpdate struct {
	Index    int            // 1-based
	Endpoint netip.AddrPort // an unspecified address puts the media on hold
}

// ErrStreamIndex: a stream update's index is out of range.
var ErrStreamIndex = errors.New("media index out of range")

// SignalStream handles a stream update as an offer or, with answer, an
// answer, and returns the address and port the other party is to send
// that media to. It goes through Signal with the SDP the update stands
// for: the party's media as it stands, media Index replaced, so that an
// update of one media leaves the others as they are (rtpengine changes
// only the stream it is given). The address is trusted, as rtpengine
// trusts it: the proxy read it from the SDP.
func (r *Registry) SignalStream(p *Params, u StreamUpdate, answer bool) (netip.AddrPort, error) {
	if u.Index < 1 || u.Index > MaxStreamIndex {
		return netip.AddrPort{}, fmt.Errorf("%w: %d", ErrStreamIndex, u.Index)
	}
	tag := p.FromTag
	if answer {
		tag = p.ToTag
	}
	lines := r.partyLines(p.CallID, tag)
	if len(lines) < u.Index {
		lines = append(lines, make([]netip.AddrPort, u.Index-len(lines))...)
	}
	lines[u.Index-1] = u.Endpoint
	p.SDP = streamSDP(lines)
	if p.Flags == nil {
		p.Flags = map[string]bool{}
	}
	p.Flags["trust-address"] = true
	res, err := r.Signal(p, answer)
	if err != nil {
		return netip.AddrPort{}, err
	}
	out, err := sdp.Parse(res.SDP)
	if err != nil || len(out.Media) < u.Index {
		return netip.AddrPort{}, fmt.Errorf("%w: media %d missing in the output", ErrRewriteSDP, u.Index)
	}
	m := out.Media[u.Index-1]
	conn := m.Connection
	if conn == nil {
		conn = out.Connection
	}
	if conn == nil || !conn.Addr.IsValid() || m.Port < 0 || m.Port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w: media %d has no address", ErrRewriteSDP, u.Index)
	}
	return netip.AddrPortFrom(conn.Addr, uint16(m.Port)), nil
}

// partyLines returns the address and port each media of the party tagged
// tag last signalled (invalid where it has none, e.g. a media it lacks).
func (r *Registry) partyLines(callID, tag string) []netip.AddrPort {
	c := r.lookup(callID)
	if c == nil {
		return nil
	}
	defer c.mu.Unlock()
	m := c.byTag(tag)
	if m == nil {
		return nil
	}
	lines := make([]netip.AddrPort, len(m.Medias))
	for i, md := range m.Medias {
		if s := md.Streams[0]; s != nil && s.Advertised.IsValid() {
			lines[i] = netip.AddrPortFrom(s.Advertised.Addr(), uint16(md.Port))
		}
	}
	return lines
}

// streamSDP is the SDP a list of stream endpoints stands for: one audio
// m= line each, with its own c= line; an invalid endpoint is a rejected
// media (port 0). The payload type is a placeholder: the legacy protocol
// names none, and the relay forwards whatever arrives.
func streamSDP(lines []netip.AddrPort) string {
	var b strings.Builder
	first := netip.IPv4Unspecified()
	for _, l := range lines {
		if l.IsValid() {
			first = l.Addr()
			break
		}
	}
	b.WriteString("v=0\r\no=- 1 1 ")
	b.WriteString(connAddr(first))
	b.WriteString("\r\ns=-\r\nt=0 0\r\n")
	for _, l := range lines {
		port, addr := 0, first
		if l.IsValid() {
			port, addr = int(l.Port()), l.Addr()
		}
		b.WriteString("m=audio ")
		b.WriteString(strconv.Itoa(port))
		b.WriteString(" RTP/AVP 0\r\nc=")
		b.WriteString(connAddr(addr))
		b.WriteString("\r\n")
	}
	return b.String()
}

// connAddr renders "IN IP4 a" or "IN IP6 a".
func connAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return "IN IP4 " + a.String()
	}
	return "IN IP6 " + a.String()
}
