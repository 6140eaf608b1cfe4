package relay

import "encoding/binary"

// Block is what rtpengine's block media, silence media and block DTMF
// commands ask of one sender's RTP. RTCP is never touched, as in
// rtpengine. It is immutable once in a Forwarding.
type Block struct {
	// Media drops RTP except DTMF events, which still pass.
	Media bool
	// DTMF drops DTMF events (RFC 4733 telephone-event).
	DTMF bool
	// Silence replaces the payload of codecs with a known silence pattern
	// (G.711, G.722) by that pattern; other codecs pass unchanged.
	Silence bool
	// Payloads tells events and codecs apart by payload type.
	Payloads Payloads
}

// Payloads classifies a media's RTP payload types, from its SDP.
type Payloads struct {
	events  PTSet       // telephone-event payload types
	silence [128]uint8  // silence byte per payload type; 0 for none
	clock   [128]uint32 // clock rate in Hz; 0: unknown
	g711    [128]uint8  // 'u' for PCMU, 'a' for PCMA, 0 for any other
}

// SetEvent marks pt as carrying DTMF events with a clock rate in Hz.
func (p *Payloads) SetEvent(pt uint8, clock uint32) {
	p.events.Add(pt)
	p.clock[pt&127] = clock
}

// SetCodec records the clock rate (Hz) of codec pt and, for G.711, its
// law ('u' or 'a'; 0 for other codecs), which DTMF injection needs.
func (p *Payloads) SetCodec(pt uint8, clock uint32, law byte) {
	p.clock[pt&127] = clock
	p.g711[pt&127] = law
}

// Clock is pt's clock rate in Hz (0: unknown).
func (p *Payloads) Clock(pt uint8) uint32 { return p.clock[pt&127] }

// G711 is pt's G.711 law: 'u' for PCMU, 'a' for PCMA, 0 for neither.
func (p *Payloads) G711(pt uint8) byte { return p.g711[pt&127] }

// HasEvents reports whether any payload type carries DTMF events.
func (p *Payloads) HasEvents() bool { return !p.events.Empty() }

// SetSilence records pt's one-byte silence pattern.
func (p *Payloads) SetSilence(pt uint8, b byte) { p.silence[pt&127] = b }

// Merge adds o's events, and o's silence patterns and codecs for payload
// types p has none for.
func (p *Payloads) Merge(o *Payloads) {
	p.events[0] |= o.events[0] // the union of the two sets
	p.events[1] |= o.events[1]
	for i, b := range o.silence {
		if p.silence[i] == 0 {
			p.silence[i] = b
		}
		if p.clock[i] == 0 {
			p.clock[i] = o.clock[i]
			p.g711[i] = o.g711[i]
		}
	}
}

func (p *Payloads) event(pt uint8) bool { return p.events.Has(pt) }

// drop reports whether the RTP packet is blocked; a silenced packet's
// payload is overwritten in place.
func (b *Block) drop(pkt []byte) bool {
	if len(pkt) < 12 {
		return b.Media
	}
	pt := pkt[1] & 0x7f
	if b.Payloads.event(pt) {
		return b.DTMF
	}
	if b.Media {
		return true
	}
	if b.Silence {
		if s := b.Payloads.silence[pt]; s != 0 {
			if off, end, ok := rtpPayload(pkt); ok {
				pl := pkt[off:end]
				for i := range pl {
					pl[i] = s
				}
			}
		}
	}
	return false
}

// rtpPayload returns where an RTP packet's payload starts and ends
// (after CSRCs and the header extension, before padding).
func rtpPayload(pkt []byte) (off, end int, ok bool) {
	off = 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // extension
		if len(pkt) < off+4 {
			return 0, 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	}
	end = len(pkt)
	if pkt[0]&0x20 != 0 { // padding
		end -= int(pkt[len(pkt)-1])
	}
	if off > end {
		return 0, 0, false
	}
	return off, end, true
}
