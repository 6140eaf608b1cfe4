package relay

import (
	"net/netip"
	"testing"
)

// TestNoteDTMF: one report per event, at its first end packet; progress
// packets, other payload types and short or malformed packets report
// nothing.
func TestNoteDTMF(t *testing.T) {
	var got []DTMFEvent
	d := &DTMFLog{Report: func(ev DTMFEvent) { got = append(got, ev) }}
	d.Payloads.SetEvent(101, 8000)
	d.Payloads.SetEvent(110, 48000)
	s := &Stream{}
	src := netip.MustParseAddrPort("[::ffff:192.0.2.1]:4000")
	ev := func(pt byte, ts byte, end bool, extra ...byte) []byte {
		p := []byte{0x80, pt, 0, 1, 0, 0, 0, ts, 1, 2, 3, 4}
		p = append(p, extra...)
		flags := byte(10)
		if end {
			flags |= 0x80
		}
		return append(p, 5, flags, 0x02, 0x80)
	}
	for _, p := range [][]byte{
		ev(101, 1, false),
		ev(101, 1, true), // reported
		ev(101, 1, true), // repeated end
		ev(0, 2, true),   // voice
		ev(110, 2, true), // reported, 48 kHz
		{0x80, 101, 0, 1},
		{0x80, 101, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5},
		ev(101|0x80, 4, true), // marker set: reported
		append([]byte{0x81, 101, 0, 1, 0, 0, 0, 5, 1, 2, 3, 4, 9, 9, 9, 9}, 5, 0x80, 0, 160), // after a CSRC
	} {
		s.noteDTMF(d, p, src)
	}
	want := []DTMFEvent{
		{Event: 5, Volume: 10, Duration: 640, ClockRate: 8000, Source: netip.MustParseAddr("192.0.2.1")},
		{Event: 5, Volume: 10, Duration: 640, ClockRate: 48000, Source: netip.MustParseAddr("192.0.2.1")},
		{Event: 5, Volume: 10, Duration: 640, ClockRate: 8000, Source: netip.MustParseAddr("192.0.2.1")},
		{Event: 5, Volume: 0, Duration: 160, ClockRate: 8000, Source: netip.MustParseAddr("192.0.2.1")},
	}
	if len(got) != len(want) {
		t.Fatalf("reported %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
