package relay

import (
	"bytes"
	"testing"
)

func blockPayloads() Payloads {
	var p Payloads
	p.SetSilence(0, 0xff)
	p.SetSilence(8, 0xd5)
	p.SetEvent(101, 8000)
	return p
}

// TestBlockDrop covers the per-packet rule: events pass a media block
// and fall to a DTMF block; silence overwrites only the payload of a
// codec with a pattern, after CSRCs and extension and before padding.
func TestBlockDrop(t *testing.T) {
	pcmu := func(first byte, tail ...byte) []byte {
		p := []byte{first, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4}
		return append(p, tail...)
	}
	cases := []struct {
		name string
		b    Block
		pkt  []byte
		drop bool
		want []byte // the packet after, if kept
	}{
		{"media drops voice", Block{Media: true}, pcmu(0x80, 1, 2), true, nil},
		{"media keeps events", Block{Media: true}, []byte{0x80, 101, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 5, 10, 0, 160}, false,
			[]byte{0x80, 101, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 5, 10, 0, 160}},
		{"marker bit is no payload type", Block{DTMF: true}, []byte{0x80, 0x80 | 101, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 5}, true, nil},
		{"dtmf keeps voice", Block{DTMF: true}, pcmu(0x80, 1, 2), false, pcmu(0x80, 1, 2)},
		{"silence", Block{Silence: true}, pcmu(0x80, 1, 2, 3), false, pcmu(0x80, 0xff, 0xff, 0xff)},
		{"silence after CSRC", Block{Silence: true}, pcmu(0x81, 9, 9, 9, 9, 1, 2), false, pcmu(0x81, 9, 9, 9, 9, 0xff, 0xff)},
		{"silence after extension", Block{Silence: true}, pcmu(0x90, 0xbe, 0xde, 0, 1, 7, 7, 7, 7, 1, 2), false,
			pcmu(0x90, 0xbe, 0xde, 0, 1, 7, 7, 7, 7, 0xff, 0xff)},
		{"silence before padding", Block{Silence: true}, pcmu(0xa0, 1, 2, 0, 2), false, pcmu(0xa0, 0xff, 0xff, 0, 2)},
		{"silence PCMA", Block{Silence: true}, []byte{0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 1}, false,
			[]byte{0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xd5}},
		{"no pattern for other codecs", Block{Silence: true}, []byte{0x80, 96, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 1}, false,
			[]byte{0x80, 96, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 1}},
		{"bad extension length", Block{Silence: true}, pcmu(0x90, 0xbe, 0xde, 0, 9, 1), false, pcmu(0x90, 0xbe, 0xde, 0, 9, 1)},
		{"bad padding", Block{Silence: true}, pcmu(0xa0, 1, 99), false, pcmu(0xa0, 1, 99)},
		{"short extension", Block{Silence: true}, pcmu(0x90, 0xbe), false, pcmu(0x90, 0xbe)},
		{"short packet blocked", Block{Media: true}, []byte{0x80, 0}, true, nil},
		{"short packet kept", Block{Silence: true}, []byte{0x80, 0}, false, []byte{0x80, 0}},
	}
	for _, c := range cases {
		c.b.Payloads = blockPayloads()
		pkt := bytes.Clone(c.pkt)
		if got := c.b.drop(pkt); got != c.drop {
			t.Errorf("%s: drop %v, want %v", c.name, got, c.drop)
			continue
		}
		if !c.drop && !bytes.Equal(pkt, c.want) {
			t.Errorf("%s: packet %x, want %x", c.name, pkt, c.want)
		}
	}
}

func TestPayloadsMerge(t *testing.T) {
	var a, b Payloads
	a.SetSilence(0, 0xff)
	b.SetSilence(0, 0x11)
	b.SetSilence(8, 0xd5)
	b.SetEvent(96, 48000)
	a.Merge(&b)
	if a.silence[0] != 0xff || a.silence[8] != 0xd5 || !a.event(96) || a.event(101) {
		t.Errorf("merged %v %v %v %v", a.silence[0], a.silence[8], a.event(96), a.event(101))
	}
}

// TestBlockOnStream: a Block set on a live stream drops and silences RTP
// from then on, RTCP passes, and SetBlock keeps what the stream learned.
func TestBlockOnStream(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnImmediate)
	c.sa.SetForwarding(&Forwarding{Remote: addr(c.phoneA), Sink: c.sb, RTCPSink: c.sb, Learning: LearnImmediate, DemuxRTCP: true})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	learned, _ := c.sa.Learned()

	c.sa.SetBlock(&Block{Media: true, Payloads: blockPayloads()})
	if l, _ := c.sa.Learned(); l != learned {
		t.Fatalf("learned %v after SetBlock, want %v", l, learned)
	}
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(2))
	sendTo(t, c.phoneA, c.sa.Local(), rtcpPacket())
	expect(t, c.phoneB, rtcpPacket(), c.sb.Local()) // RTCP yes, RTP no
	if st := c.sa.Stats(); st.In.Packets != 3 || st.In.Errors != 0 {
		t.Errorf("blocked side counters %+v", st.In)
	}

	c.sa.SetBlock(&Block{Silence: true, Payloads: blockPayloads()})
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(3))
	want := rtpPacket(3)
	for i := 12; i < len(want); i++ {
		want[i] = 0xff
	}
	expect(t, c.phoneB, want, c.sb.Local())

	c.sa.SetBlock(nil)
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(4))
	expect(t, c.phoneB, rtpPacket(4), c.sb.Local())
}

func BenchmarkBlockSilence(b *testing.B) {
	blk := Block{Silence: true, Payloads: blockPayloads()}
	pkt := rtpPacket(1)
	b.ReportAllocs()
	for b.Loop() {
		blk.drop(pkt)
	}
}
