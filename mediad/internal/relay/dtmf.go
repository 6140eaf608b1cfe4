package relay

import (
	"encoding/binary"
	"net/netip"
)

// DTMFEvent is the end of an RFC 4733 event a stream received.
type DTMFEvent struct {
	Event, Volume uint8
	// Duration is in units of ClockRate (Hz), as the packet gave it.
	Duration  uint16
	ClockRate uint32
	Source    netip.Addr
}

// DTMFLog asks a stream to report the DTMF events it receives (rtpengine's
// --dtmf-log-dest). It is immutable once in a Forwarding.
type DTMFLog struct {
	// Payloads tells the event payload types and their clock rates.
	Payloads Payloads
	// Report is told each event once, at its first end packet (the
	// sender repeats it), from the packet path: it must not block long.
	Report func(DTMFEvent)
}

// noteDTMF reports pkt if it is the first end packet of an event. The
// event is known by its RTP timestamp, which all its packets share.
func (s *Stream) noteDTMF(d *DTMFLog, pkt []byte, src netip.AddrPort) {
	if len(pkt) < 12 || !d.Payloads.event(pkt[1]&0x7f) {
		return
	}
	off, end, ok := rtpPayload(pkt)
	if !ok || end-off < 4 || pkt[off+1]&0x80 == 0 {
		return
	}
	ts := uint64(binary.BigEndian.Uint32(pkt[4:])) + 1 // 0: none yet
	if s.dtmfTS.Swap(ts) == ts {
		return // a repeated end packet
	}
	pt := pkt[1] & 0x7f
	clock := d.Payloads.clock[pt]
	if clock == 0 {
		clock = 8000
	}
	d.Report(DTMFEvent{
		Event: pkt[off], Volume: pkt[off+1] & 0x3f,
		Duration: binary.BigEndian.Uint16(pkt[off+2:]), ClockRate: clock,
		Source: src.Addr().Unmap(),
	})
}
