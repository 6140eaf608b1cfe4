package relay

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zaf/g711"
)

// Digit is one DTMF digit to play (rtpengine's play DTMF).
type Digit struct {
	// Code is the event: 0-9, 10 for '*', 11 for '#', 12-15 for A-D.
	Code uint8
	// Volume is the level in dB below full scale, 0-63: RFC 4733's
	// volume field, or the level of each of a tone's two frequencies.
	Volume uint8
	// Duration is how long the digit sounds, Pause how long after it
	// the next one may start.
	Duration, Pause time.Duration
}

// MaxQueuedDigits bounds an injector's queue: a flood of play DTMF
// commands gets an error, not memory.
const MaxQueuedDigits = 64

// ErrDigitQueueFull: MaxQueuedDigits digits wait already.
var ErrDigitQueueFull = errors.New("too many DTMF digits queued")

// Injector plays DTMF digits into the RTP one stream forwards, in place
// of the audio it receives meanwhile (rtpengine's play DTMF on a call
// set up with inject DTMF): as RFC 4733 events when the receiver takes
// telephone-event at the audio's clock rate, else, for G.711, as tones
// followed by silence for the pause. The sender's packets themselves are
// rewritten, so sequence numbers, timestamps and SSRC stay the sender's
// and nothing needs renumbering afterwards; a digit plays while the
// sender sends. Safe for concurrent use; the packet path locks only
// while a digit is queued or playing.
type Injector struct {
	busy atomic.Bool // a digit is queued or playing

	mu        sync.Mutex
	from, to  Payloads // the sender's payload types (both SDPs), the receiver's
	queue     []Digit  // queue[0] is playing when cur.on
	cur       playing
	prevTS    uint32 // timestamp and sequence number of the last audio
	prevSeq   uint16 // packet seen while busy
	havePrev  bool
	next      uint32 // with haveNext: no digit starts before this timestamp,
	haveNext  bool   // nor before pauseLeft samples of packets went by
	pauseLeft uint32
	played    uint64
	skipped   uint64
}

// playing is the digit being played.
type playing struct {
	on         bool
	tone       byte   // 'u' or 'a': a G.711 tone; 0: events
	pt         uint8  // event payload type
	start      uint32 // timestamp of the first packet replaced
	last       uint32 // offset of the last packet replaced from start
	seen       bool   // a packet was replaced
	dur, pause uint32 // in samples
	ends       int    // end packets sent (events)
	endDur     uint32 // their duration field
	prim, sec  float64
	amp        float64
}

// SetPayloads tells the injector the payload types: those the sender's
// packets may carry (either SDP's numbering) and the receiver's, whose
// telephone-event it uses.
func (in *Injector) SetPayloads(sender, receiver *Payloads) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.from = *sender
	in.from.Merge(receiver)
	in.to = *receiver
}

// CanPlay reports whether digits can reach the receiver at all: as
// events, or as tones into a G.711 codec.
func (in *Injector) CanPlay() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.to.HasEvents() {
		return true
	}
	for _, l := range in.from.g711 {
		if l != 0 {
			return true
		}
	}
	return false
}

// Queue adds a digit after those waiting.
func (in *Injector) Queue(d Digit) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.queue) >= MaxQueuedDigits {
		return ErrDigitQueueFull
	}
	in.queue = append(in.queue, d)
	in.busy.Store(true)
	return nil
}

// Counts returns how many digits were played and how many were skipped
// (the audio they met was neither G.711 nor matched by a telephone-event
// clock rate).
func (in *Injector) Counts() (played, skipped uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.played, in.skipped
}

// dtmfFreqs are each event's two frequencies (Q.23).
var dtmfFreqs = [16][2]float64{
	{941, 1336}, {697, 1209}, {697, 1336}, {697, 1477}, {770, 1209}, {770, 1336},
	{770, 1477}, {852, 1209}, {852, 1336}, {852, 1477}, {941, 1209}, {941, 1477},
	{697, 1633}, {770, 1633}, {852, 1633}, {941, 1633},
}

// apply rewrites the plain RTP packet pkt if a digit is due; it returns
// the packet to forward.
func (in *Injector) apply(pkt []byte) []byte {
	if len(pkt) < 12 {
		return pkt
	}
	off, end, ok := rtpPayload(pkt)
	if !ok {
		return pkt
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	pt := pkt[1] & 0x7f
	if in.from.event(pt) {
		return pkt // the sender's own events pass
	}
	clock := in.from.clock[pt]
	if clock == 0 {
		clock = 8000
	}
	ts, seq := binary.BigEndian.Uint32(pkt[4:]), binary.BigEndian.Uint16(pkt[2:])
	// The packets' spacing, from two of them (a lost packet or one of
	// the sender's events between them counts in both numbers); 20 ms
	// until then.
	frame := clock / 50
	if n, d := uint32(seq-in.prevSeq), ts-in.prevTS; in.havePrev && n > 0 && n < 8 && d > 0 && d/n <= clock/5 {
		frame = d / n
	}
	in.prevTS, in.prevSeq, in.havePrev = ts, seq, true
	c := &in.cur
	if !c.on {
		if len(in.queue) == 0 {
			in.busy.Store(false)
			return pkt
		}
		if in.haveNext && int32(ts-in.next) < 0 && in.pauseLeft > 0 {
			in.pauseLeft -= min(frame, in.pauseLeft)
			return pkt // the pause after the last digit
		}
		if !in.start(in.queue[0], pt, ts, clock) {
			in.skipped++
			in.finish()
			return pkt
		}
	}
	// How far into the digit this packet starts: by its timestamp, or,
	// where timestamps stand still, go back or leap, by the packets'
	// spacing, so that a digit never outlasts its duration.
	offset := ts - c.start
	if c.seen && (offset <= c.last || offset-c.last > clock) {
		offset = c.last + frame
	}
	first := !c.seen
	c.last, c.seen = offset, true
	if c.tone != 0 {
		pl := pkt[off:end]
		if in.from.g711[pt] != c.tone {
			pl = nil // not into another codec mid-digit; the digit goes on
		}
		in.tone(pl, offset, frame)
		return pkt
	}
	if cap(pkt) < off+4 {
		return pkt
	}
	dur, last := offset+frame, false
	switch {
	case c.ends > 0: // the end packet again (RFC 4733 sends it three times)
		dur = c.endDur
		c.ends++
		last = c.ends == 3
	case offset >= c.dur:
		c.endDur, c.ends = dur, 1
	}
	pkt = pkt[:off+4]
	pkt[0] &^= 0x20 // no padding
	pkt[1] = c.pt
	if first {
		pkt[1] |= 0x80 // marker: the event starts
	}
	binary.BigEndian.PutUint32(pkt[4:], c.start)
	pkt[off] = in.queue[0].Code
	pkt[off+1] = in.queue[0].Volume & 0x3f
	if c.ends > 0 {
		pkt[off+1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[off+2:], uint16(min(dur, 0xffff)))
	if last {
		in.next, in.haveNext, in.pauseLeft = c.start+c.endDur+c.pause, true, c.pause
		in.finish()
	}
	return pkt
}

// start begins digit d on a packet of payload type pt at ts, as events
// when the receiver has telephone-event at the clock rate, else as a
// G.711 tone; false: neither is possible.
func (in *Injector) start(d Digit, pt uint8, ts, clock uint32) bool {
	c := &in.cur
	*c = playing{
		on: true, start: ts,
		dur:   uint32(uint64(d.Duration.Milliseconds()) * uint64(clock) / 1000),
		pause: uint32(uint64(d.Pause.Milliseconds()) * uint64(clock) / 1000),
	}
	for e := range 128 {
		if in.to.event(uint8(e)) && (in.to.clock[e] == clock || in.to.clock[e] == 0 && clock == 8000) {
			c.pt = uint8(e)
			return true
		}
	}
	if c.tone = in.from.g711[pt]; c.tone == 0 {
		c.on = false
		return false
	}
	f := dtmfFreqs[d.Code&15]
	c.prim, c.sec = 2*math.Pi*f[0]/float64(clock), 2*math.Pi*f[1]/float64(clock)
	// Each frequency at Volume dB below half of full scale, so that
	// their sum stays within it (rtpengine's dtmflib does the same).
	c.amp = 32767 / 2 / math.Pow(10, float64(d.Volume)/20)
	return true
}

// tone writes the G.711 payload pl, offset samples into the digit: the
// tone, then silence for the pause; past both, the sender's audio stays.
// A packet of frame samples ends the digit when it reaches the pause's
// end.
func (in *Injector) tone(pl []byte, offset, frame uint32) {
	c := &in.cur
	enc := g711.EncodeUlawFrame
	if c.tone == 'a' {
		enc = g711.EncodeAlawFrame
	}
	for i := range pl {
		t := offset + uint32(i)
		if t >= c.dur+c.pause {
			break // the rest is the sender's audio
		}
		if t < c.dur {
			x := float64(t)
			pl[i] = enc(int16(c.amp * (math.Sin(c.prim*x) + math.Sin(c.sec*x))))
		} else {
			pl[i] = enc(0)
		}
	}
	if offset+max(uint32(len(pl)), frame) >= c.dur+c.pause {
		in.next, in.haveNext, in.pauseLeft = c.start+c.dur+c.pause, true, 0
		in.finish()
	}
}

// finish ends the digit at the head of the queue.
func (in *Injector) finish() {
	if in.cur.on {
		in.played++
	}
	in.cur.on = false
	in.queue = in.queue[1:]
	if len(in.queue) == 0 {
		in.queue = nil
		in.busy.Store(false)
	}
}
