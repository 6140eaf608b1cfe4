// Package rtcp walks compound RTCP packets as rtpengine 10.5's rtcp_parse
// does (daemon/rtcp.c) and renders them as its RTCP log lines. Package
// homer renders the same walk as rtpengine's Homer JSON.
package rtcp

import "encoding/binary"

// Packet types rtpengine parses.
const (
	PtSR   = 200
	PtRR   = 201
	PtSDES = 202
	PtBYE  = 203
	PtAPP  = 204
	PtRTPF = 205
	PtPSFB = 206
	PtXR   = 207
)

// minSize is rtpengine's min_packet_sizes: a shorter packet of these
// types ends the walk.
func minSize(pt byte) int {
	switch pt {
	case PtSR:
		return 28
	case PtRR, PtXR:
		return 8
	case PtSDES, PtBYE:
		return 4
	case PtAPP, PtRTPF, PtPSFB:
		return 12
	}
	return 0
}

// XR block types rtpengine reads (RFC 3611) and their minimum sizes.
const (
	BtRRTime       = 4
	BtDLRR         = 5
	BtStats        = 6
	BtVoIPMetrics  = 7
	sizeRRTime     = 12
	sizeDLRR       = 16
	sizeStats      = 40
	sizeVoIPMetric = 36
)

// Header is an RTCP packet's header; SSRC is the sender's (SR, RR, XR).
type Header struct {
	Version, Padding, Count, Type byte
	Length                        uint16 // the length field: 32-bit words less one
	SSRC                          uint32
}

// SenderInfo is a sender report's sender information.
type SenderInfo struct {
	NTPSec, NTPFrac, RTPTimestamp, Packets, Octets uint32
}

// ReportBlock is one reception report.
type ReportBlock struct {
	SSRC         uint32
	FractionLost byte
	PacketsLost  uint32 // 24 bits
	HighestSeq   uint32
	Jitter       uint32
	LSR, DLSR    uint32
}

// Visitor receives the parts of a compound packet in rtpengine's order
// (its rtcp_handler callbacks). Embed Nop for the parts of no interest.
type Visitor interface {
	// Common comes first for SR, RR and XR packets.
	Common(h Header)
	SR(s SenderInfo)
	RRListStart(h Header)
	RR(b ReportBlock)
	RRListEnd()
	SDESListStart(h Header)
	SDESItem(chunkSSRC uint32, typ byte, text []byte)
	SDESListEnd()
	// XRBlock comes before each XR block rtpengine reads; the block
	// itself (header included, at least its minimum size) follows.
	XRBlock(bt, specific byte, length uint16)
	XRRRTime(b []byte)
	XRDLRR(b []byte)
	XRStats(b []byte)
	XRVoIPMetrics(b []byte)
}

// Nop implements Visitor doing nothing.
type Nop struct{}

func (Nop) Common(Header)                 {}
func (Nop) SR(SenderInfo)                 {}
func (Nop) RRListStart(Header)            {}
func (Nop) RR(ReportBlock)                {}
func (Nop) RRListEnd()                    {}
func (Nop) SDESListStart(Header)          {}
func (Nop) SDESItem(uint32, byte, []byte) {}
func (Nop) SDESListEnd()                  {}
func (Nop) XRBlock(byte, byte, uint16)    {}
func (Nop) XRRRTime([]byte)               {}
func (Nop) XRDLRR([]byte)                 {}
func (Nop) XRStats([]byte)                {}
func (Nop) XRVoIPMetrics([]byte)          {}

// Walk hands v the packets of compound packet pkt until its end (or a
// length past it) or the first one rtpengine fails to parse: a version
// other than 2, a packet shorter than its type's minimum, report blocks
// the length cannot hold. What came before stays handed; ok is false
// after such a failure (rtpengine then drops the packet). BYE, APP and
// feedback packets are stepped over, as rtpengine's rtcp_generic does.
func Walk(pkt []byte, v Visitor) (ok bool) {
	s := pkt
	for len(s) >= 4 {
		n := (int(binary.BigEndian.Uint16(s[2:4])) + 1) * 4
		if n > len(s) {
			return true
		}
		el := s[:n]
		h := Header{Version: el[0] >> 6, Padding: el[0] >> 5 & 1, Count: el[0] & 0x1f, Type: el[1],
			Length: binary.BigEndian.Uint16(el[2:4])}
		if h.Version != 2 || n < minSize(h.Type) {
			return false
		}
		switch h.Type {
		case PtSR, PtRR:
			if n < int(h.Count)*24 {
				return false // rtcp_Xr's check
			}
			h.SSRC = binary.BigEndian.Uint32(el[4:8])
			v.Common(h)
			// rtpengine reads the blocks the count names from its
			// struct, past the element's end if the count says so
			// (within the datagram here).
			blocks := s[8:]
			if h.Type == PtSR {
				v.SR(SenderInfo{NTPSec: be32(el[8:]), NTPFrac: be32(el[12:]), RTPTimestamp: be32(el[16:]),
					Packets: be32(el[20:]), Octets: be32(el[24:])})
				blocks = s[28:]
			}
			v.RRListStart(h)
			for i := 0; i < int(h.Count) && len(blocks) >= 24*(i+1); i++ {
				rb := blocks[24*i:]
				v.RR(ReportBlock{SSRC: be32(rb), FractionLost: rb[4],
					PacketsLost: uint32(rb[5])<<16 | uint32(rb[6])<<8 | uint32(rb[7]),
					HighestSeq:  be32(rb[8:]), Jitter: be32(rb[12:]), LSR: be32(rb[16:]), DLSR: be32(rb[20:])})
			}
			v.RRListEnd()
		case PtSDES:
			walkSDES(el, h, v)
		case PtXR:
			h.SSRC = binary.BigEndian.Uint32(el[4:8])
			v.Common(h)
			walkXR(el[8:], v)
		}
		s = s[n:]
	}
	return true
}

// Valid reports whether rtpengine parses pkt without failing (Walk's ok):
// it relays no RTCP packet that fails.
func Valid(pkt []byte) bool { return Walk(pkt, Nop{}) }

// walkSDES hands an SDES packet's chunks and items as rtcp_sdes walks
// them.
func walkSDES(el []byte, h Header, v Visitor) {
	v.SDESListStart(h)
	c := el[4:]
	for i := 0; len(c) >= 4; {
		chunkSSRC := be32(c)
		c = c[4:]
		for len(c) > 0 {
			typ := c[0]
			c = c[1:]
			if typ == 0 || len(c) < 1 {
				break
			}
			n := int(c[0])
			c = c[1:]
			if len(c) < n {
				break
			}
			v.SDESItem(chunkSSRC, typ, c[:n])
			c = c[n:]
		}
		for len(c)%4 != 0 {
			c = c[1:]
		}
		if i++; i >= int(h.Count) {
			break
		}
	}
	v.SDESListEnd()
}

// walkXR hands the report blocks of an XR packet's body that rtpengine
// reads: known types at least their size; others are stepped over.
func walkXR(c []byte, v Visitor) {
	for len(c) >= 4 {
		n := (int(binary.BigEndian.Uint16(c[2:4])) + 1) * 4
		if n > len(c) {
			return
		}
		rb := c[:n]
		c = c[n:]
		var min int
		var f func([]byte)
		switch rb[0] {
		case BtRRTime:
			min, f = sizeRRTime, v.XRRRTime
		case BtDLRR:
			min, f = sizeDLRR, v.XRDLRR
		case BtStats:
			min, f = sizeStats, v.XRStats
		case BtVoIPMetrics:
			min, f = sizeVoIPMetric, v.XRVoIPMetrics
		default:
			continue
		}
		if n < min {
			continue // "Short RTCP XR block"
		}
		v.XRBlock(rb[0], rb[1], binary.BigEndian.Uint16(rb[2:4]))
		f(rb)
	}
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
