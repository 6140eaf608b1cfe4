package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// audioPkt is a 20 ms packet of payload type pt with sequence number
// seq, its timestamp 160 samples per packet from 1000, its payload 0x55.
func audioPkt(pt uint8, seq uint16) []byte {
	p := make([]byte, 12+160, 1500)
	p[0], p[1] = 0x80, pt
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], 1000+uint32(seq)*160)
	binary.BigEndian.PutUint32(p[8:], 0xabcd)
	for i := 12; i < len(p); i++ {
		p[i] = 0x55
	}
	return p
}

// describe names an event packet as "ev/E/vol/dur ts m" and any other
// packet by its payload type, its payload's first byte and timestamp.
func describe(p []byte) string {
	ts := binary.BigEndian.Uint32(p[4:])
	if p[1]&0x7f == 101 {
		return fmt.Sprintf("%d/%d/%d/%d ts=%d m=%d", p[12], p[13]>>7, p[13]&0x3f,
			binary.BigEndian.Uint16(p[14:]), ts, p[1]>>7)
	}
	return fmt.Sprintf("pt%d:%02x ts=%d", p[1]&0x7f, p[12], ts)
}

func pcmuEvents() (sender, receiver Payloads) {
	sender.SetCodec(0, 8000, 'u')
	sender.SetCodec(8, 8000, 'a')
	receiver = sender
	receiver.SetEvent(101, 8000)
	return sender, receiver
}

// TestInjectEvents: a digit replaces the audio packets with RFC 4733
// events, sequence numbers kept, the timestamp the first replaced
// packet's, the duration growing by the packets' spacing; the event
// ends on the first packet at or past its duration, sent three times
// (as rtpengine 10.5 numbers them); a digit queued meanwhile starts a
// pause after the end; the sender's own events pass untouched.
func TestInjectEvents(t *testing.T) {
	var in Injector
	s, r := pcmuEvents()
	in.SetPayloads(&s, &r)
	if in.busy.Load() {
		t.Fatal("busy before any digit")
	}
	for _, d := range []Digit{
		{Code: 5, Volume: 10, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond},
		{Code: 11, Volume: 63, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond},
	} {
		if err := in.Queue(d); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for seq := uint16(0); seq < 24; seq++ {
		p := audioPkt(0, seq)
		if seq == 2 {
			p = audioPkt(101, seq)[:16] // the sender's own event
			copy(p[12:], []byte{9, 10, 0, 160})
		}
		out := in.apply(p)
		if binary.BigEndian.Uint16(out[2:]) != seq || binary.BigEndian.Uint32(out[8:]) != 0xabcd {
			t.Fatalf("packet %d: sequence or SSRC changed: %x", seq, out[:12])
		}
		got = append(got, describe(out))
	}
	want := []string{
		"5/0/10/160 ts=1000 m=1", "5/0/10/320 ts=1000 m=0", "9/0/10/160 ts=1320 m=0",
		"5/0/10/640 ts=1000 m=0", "5/0/10/800 ts=1000 m=0",
		"5/1/10/960 ts=1000 m=0", "5/1/10/960 ts=1000 m=0", "5/1/10/960 ts=1000 m=0",
		// the pause: 100 ms (800 samples) after the end at 1960
		"pt0:55 ts=2280", "pt0:55 ts=2440", "pt0:55 ts=2600",
		"11/0/63/160 ts=2760 m=1", "11/0/63/320 ts=2760 m=0", "11/0/63/480 ts=2760 m=0",
		"11/0/63/640 ts=2760 m=0", "11/0/63/800 ts=2760 m=0", "11/1/63/960 ts=2760 m=0",
		"11/1/63/960 ts=2760 m=0", "11/1/63/960 ts=2760 m=0",
		"pt0:55 ts=4040", "pt0:55 ts=4200", "pt0:55 ts=4360", "pt0:55 ts=4520", "pt0:55 ts=4680",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("packets:\n%q\nwant\n%q", got, want)
	}
	if in.busy.Load() {
		t.Error("busy after the last digit")
	}
	if played, skipped := in.Counts(); played != 2 || skipped != 0 {
		t.Errorf("played %d, skipped %d", played, skipped)
	}
}

// goertzel is the power of freq in samples at rate, normalised by the
// samples' own power: near 0.5 for one of two equal tones, near 0 for
// a frequency absent.
func goertzel(x []float64, freq, rate float64) float64 {
	w := 2 * math.Pi * freq / rate
	c := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
		energy += v * v
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return p / (energy * float64(len(x)) / 2)
}

// TestInjectTone: without telephone-event toward the receiver, a G.711
// packet's payload becomes the digit's two frequencies (and only them)
// at the volume asked, then silence for the pause, then the sender's
// audio again, in both laws.
func TestInjectTone(t *testing.T) {
	for _, c := range []struct {
		pt     uint8
		decode func(uint8) int16
		quiet  byte
	}{{0, g711.DecodeUlawFrame, 0xff}, {8, g711.DecodeAlawFrame, 0xd5}} {
		var in Injector
		s, _ := pcmuEvents()
		in.SetPayloads(&s, &s)
		if !in.CanPlay() {
			t.Fatal("G.711 toward the receiver cannot play")
		}
		_ = in.Queue(Digit{Code: 9, Volume: 6, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond})
		var tone []float64
		for seq := range uint16(12) {
			out := in.apply(audioPkt(c.pt, seq))
			pl := out[12:]
			switch {
			case seq < 5:
				for _, b := range pl {
					tone = append(tone, float64(c.decode(b)))
				}
			case seq < 10:
				for _, b := range pl {
					if b != c.quiet {
						t.Fatalf("pt %d packet %d: %02x in the pause", c.pt, seq, b)
					}
				}
			default:
				if pl[0] != 0x55 || pl[159] != 0x55 {
					t.Fatalf("pt %d packet %d: audio not back: %x", c.pt, seq, pl[:4])
				}
			}
		}
		// '9' is 852 Hz + 1477 Hz.
		for f, want := range map[float64]bool{852: true, 1477: true, 697: false, 770: false, 941: false, 1209: false, 1336: false, 1633: false} {
			if p := goertzel(tone, f, 8000); (p > 0.3) != want {
				t.Errorf("pt %d: %v Hz at %.3f of the power, want present=%v", c.pt, f, p, want)
			}
		}
		// Each frequency 6 dB below half of full scale: the sum's RMS.
		var sum float64
		for _, v := range tone {
			sum += v * v
		}
		rms, want := math.Sqrt(sum/float64(len(tone))), 32767/2/math.Pow(10, 6.0/20)
		if math.Abs(rms-want) > want*0.05 {
			t.Errorf("pt %d: RMS %.0f, want %.0f", c.pt, rms, want)
		}
	}
}

// TestInjectSkips: a digit that meets audio it can neither replace by
// events (no telephone-event at its clock rate toward the receiver) nor
// by a tone (no G.711) is dropped, the audio untouched; the queue is
// bounded.
func TestInjectSkips(t *testing.T) {
	var in Injector
	var s, r Payloads
	s.SetCodec(96, 48000, 0)
	r = s
	r.SetEvent(101, 8000)
	in.SetPayloads(&s, &r)
	_ = in.Queue(Digit{Code: 1, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond})
	out := in.apply(audioPkt(96, 1))
	if out[1] != 96 || out[12] != 0x55 || len(out) != 172 {
		t.Errorf("opus packet changed: %x", out[:13])
	}
	if played, skipped := in.Counts(); played != 0 || skipped != 1 || in.busy.Load() {
		t.Errorf("played %d skipped %d busy %v", played, skipped, in.busy.Load())
	}
	var none Injector
	none.SetPayloads(&s, &s)
	if none.CanPlay() {
		t.Error("opus without telephone-event can play")
	}
	for range MaxQueuedDigits {
		if err := in.Queue(Digit{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Queue(Digit{}); !errors.Is(err, ErrDigitQueueFull) {
		t.Errorf("queue over the limit: %v", err)
	}
}

// TestInjectOnStream: a digit queued on a live stream's injector goes
// out to the sink's peer in place of the audio, over real sockets, and
// the audio follows it.
func TestInjectOnStream(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	in := &Injector{}
	s, r := pcmuEvents()
	in.SetPayloads(&s, &r)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, Learning: LearnImmediate, DemuxRTCP: true, Inject: in})
	_ = in.Queue(Digit{Code: 3, Volume: 8, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond})
	want := []string{
		"3/0/8/160 ts=1000 m=1", "3/0/8/320 ts=1000 m=0", "3/0/8/480 ts=1000 m=0", "3/0/8/640 ts=1000 m=0",
		"3/0/8/800 ts=1000 m=0", "3/1/8/960 ts=1000 m=0", "3/1/8/960 ts=1000 m=0", "3/1/8/960 ts=1000 m=0",
		"pt0:55 ts=2280",
	}
	buf := make([]byte, 1500)
	for seq, w := range want {
		sendTo(t, c.phoneA, c.sa.Local(), audioPkt(0, uint16(seq)))
		_ = c.phoneB.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.phoneB.Read(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", seq, err)
		}
		if got := describe(buf[:n]); got != w {
			t.Errorf("packet %d arrived as %s, want %s", seq, got, w)
		}
	}
}

// TestInjectStuckTimestamps: a sender whose timestamps stand still (or
// jump back) still gets digits of their duration, the pause counted in
// packets: neither the digit nor the wait lasts forever.
func TestInjectStuckTimestamps(t *testing.T) {
	var in Injector
	s, r := pcmuEvents()
	in.SetPayloads(&s, &r)
	for range 2 {
		_ = in.Queue(Digit{Code: 4, Volume: 8, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond})
	}
	var got []string
	for seq := range uint16(24) {
		p := audioPkt(0, seq)
		binary.BigEndian.PutUint32(p[4:], 7) // always 7
		got = append(got, describe(in.apply(p)))
	}
	want := []string{
		"4/0/8/160 ts=7 m=1", "4/0/8/320 ts=7 m=0", "4/0/8/480 ts=7 m=0", "4/0/8/640 ts=7 m=0", "4/0/8/800 ts=7 m=0",
		"4/1/8/960 ts=7 m=0", "4/1/8/960 ts=7 m=0", "4/1/8/960 ts=7 m=0",
		"pt0:55 ts=7", "pt0:55 ts=7", "pt0:55 ts=7", "pt0:55 ts=7", "pt0:55 ts=7", // 100 ms of packets
		"4/0/8/160 ts=7 m=1", "4/0/8/320 ts=7 m=0", "4/0/8/480 ts=7 m=0", "4/0/8/640 ts=7 m=0", "4/0/8/800 ts=7 m=0",
		"4/1/8/960 ts=7 m=0", "4/1/8/960 ts=7 m=0", "4/1/8/960 ts=7 m=0",
		"pt0:55 ts=7", "pt0:55 ts=7", "pt0:55 ts=7",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("packets:\n%q\nwant\n%q", got, want)
	}
	if in.busy.Load() {
		t.Error("busy after both digits")
	}
}

// TestInjectToneUnaligned: a tone and pause that end inside a packet
// (250 ms + 100 ms of 20 ms packets) end there, the rest of that packet
// the sender's, and the next digit plays after; a packet of another
// codec mid-digit passes, and the digit still ends in time.
func TestInjectToneUnaligned(t *testing.T) {
	var in Injector
	s, _ := pcmuEvents()
	s.SetCodec(96, 8000, 0)
	in.SetPayloads(&s, &s)
	for range 2 {
		_ = in.Queue(Digit{Code: 5, Volume: 6, Duration: 250 * time.Millisecond, Pause: 100 * time.Millisecond})
	}
	kinds := ""
	for seq := range uint16(40) {
		pt := uint8(0)
		if seq == 3 {
			pt = 96
		}
		pl := in.apply(audioPkt(pt, seq))[12:]
		switch {
		case pl[0] == 0x55 && pl[159] == 0x55:
			kinds += "a" // the sender's audio
		case bytes.Count(pl, []byte{0xff}) == 160:
			kinds += "s" // silence
		case pl[159] == 0x55:
			kinds += "m" // silence, then audio
		case pl[0] != 0x55 && pl[159] == 0xff:
			kinds += "h" // half tone, half silence
		default:
			kinds += "t"
		}
	}
	// 12 tone packets (one of them the other codec's, untouched), the
	// 13th half tone, silence to 350 ms (the 18th half silence, half
	// audio); then the second digit at once.
	want := "ttta" + "tttttttt" + "h" + "ssss" + "m" + "tttttttttttt" + "h" + "ssss" + "m" + "aaaa"
	if kinds != want {
		t.Errorf("packets %s\nwant    %s", kinds, want)
	}
	if in.busy.Load() {
		t.Error("busy after both digits")
	}
}
