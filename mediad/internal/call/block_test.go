package call

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/sdp"
)

// TestBlockCommands: a party's block outlives a re-offer (the relay
// snapshot is rebuilt from the party's state), the call's silence covers
// both parties, and unblocking with All clears the parties' own blocks.
func TestBlockCommands(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "blk", a, b, nil)
	both := func(aToB, bToA []byte) {
		t.Helper()
		send(t, a.rtp, c.toA, rtpPkt)
		if aToB == nil {
			silent(t, b.rtp)
		} else {
			recv(t, b.rtp, aToB, c.toB)
		}
		send(t, b.rtp, c.toB, rtpPkt)
		if bToA == nil {
			silent(t, a.rtp)
		} else {
			recv(t, a.rtp, bToA, c.toA)
		}
	}
	quiet := append(bytes.Clone(rtpPkt[:12]), bytes.Repeat([]byte{0xff}, 160)...)
	block := func(p BlockParams) {
		t.Helper()
		p.CallID = "blk"
		if err := r.Block(p); err != nil {
			t.Fatal(err)
		}
	}
	both(rtpPkt, rtpPkt)

	block(BlockParams{Party: Party{FromTag: "a"}, Action: BlockMedia, On: true})
	both(nil, rtpPkt)
	// A re-offer from A keeps A blocked.
	if _, err := r.Offer(&Params{CallID: "blk", FromTag: "a", ToTag: "b", SDP: a.sdp("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Answer(&Params{CallID: "blk", FromTag: "a", ToTag: "b", SDP: b.sdp("")}); err != nil {
		t.Fatal(err)
	}
	both(nil, rtpPkt)

	block(BlockParams{Action: SilenceMedia, On: true})
	both(nil, quiet)
	block(BlockParams{Action: SilenceMedia})
	both(nil, rtpPkt)
	block(BlockParams{Action: BlockMedia})
	both(nil, rtpPkt) // the party's own block stays
	block(BlockParams{Party: Party{All: true}, Action: BlockMedia})
	both(rtpPkt, rtpPkt)

	for _, e := range []struct {
		p    BlockParams
		want error
	}{
		{BlockParams{Party: Party{CallID: "nosuch"}}, ErrUnknownCall},
		{BlockParams{Party: Party{CallID: "blk", FromTag: "x"}}, ErrUnknownTag},
		{BlockParams{Party: Party{CallID: "blk", Label: "x"}}, ErrUnknownLabel},
		{BlockParams{Party: Party{CallID: "blk", Address: "x"}}, ErrBadAddress},
		{BlockParams{Party: Party{CallID: "blk", Address: "127.0.0.2"}}, ErrAddressNoTag},
		{BlockParams{Party: Party{CallID: "blk"}, Action: 9}, errUnknownAction},
	} {
		if err := r.Block(e.p); !errors.Is(err, e.want) {
			t.Errorf("%+v: %v, want %v", e.p, err, e.want)
		}
	}
}

func TestDTMFJSON(t *testing.T) {
	ev := relay.DTMFEvent{Event: 11, Volume: 7, Duration: 960, ClockRate: 48000, Source: netip.MustParseAddr("::1")}
	got := string(dtmfJSON("c\"1", "ta", []string{"ta", "tb"}, time.Unix(1700000000, 0), ev))
	// 960 ticks of 48 kHz: rtpengine's integer arithmetic gives 19 ms.
	want := `{"callid":"c\"1","source_tag":"ta","tags":["ta","tb"],"type":"DTMF","timestamp":1700000000,"source_ip":"::1","event":11,"duration":19,"volume":7}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestClassifyPayloads(t *testing.T) {
	in, err := sdp.Parse("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 2000 RTP/AVP 0 8 9 96 101 110 13\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=rtpmap:110 TELEPHONE-EVENT/48000\r\na=rtpmap:8 PCMU/8000\r\n")
	if err != nil {
		t.Fatal(err)
	}
	p := classifyPayloads(in.Media[0])
	// 8 is mapped to PCMU here: its rtpmap wins over the static PCMA.
	want := relay.Payloads{}
	want.SetSilence(0, 0xff)
	want.SetCodec(0, 8000, 'u')
	want.SetSilence(8, 0xff)
	want.SetCodec(8, 8000, 'u')
	want.SetSilence(9, 0xfa)
	want.SetCodec(9, 8000, 0)
	want.SetCodec(13, 8000, 0) // CN
	want.SetCodec(96, 48000, 0)
	want.SetEvent(101, 8000)
	want.SetEvent(110, 48000)
	if p != want {
		t.Errorf("classified %+v, want %+v", p, want)
	}
	if n := testing.AllocsPerRun(100, func() { classifyPayloads(in.Media[0]) }); n != 0 {
		t.Errorf("%v allocations per SDP media", n)
	}
}

// TestPlayDTMFParties: the offer's inject DTMF lets digits into what
// the offerer sends, not the answerer (whose answer did not ask); the
// digit replaces the offerer's audio with a PCMU tone; the party must be
// named (or all); errors name the call and the tag.
func TestPlayDTMFParties(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "dtmf", a, b, map[string]bool{"inject-dtmf": true})
	digit := relay.Digit{Code: 1, Volume: 8, Duration: 100 * time.Millisecond, Pause: 100 * time.Millisecond}
	play := func(p Party) ([]string, error) {
		p.CallID = "dtmf"
		return r.PlayDTMF(DTMFParams{Party: p, Digit: digit})
	}
	if not, err := play(Party{FromTag: "a"}); err != nil || len(not) != 0 {
		t.Fatalf("play DTMF from a: %v %v", not, err)
	}
	send(t, a.rtp, c.toA, rtpPkt)
	buf := make([]byte, 2048)
	_ = b.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := b.rtp.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(rtpPkt) || bytes.Equal(buf[12:n], rtpPkt[12:]) {
		t.Errorf("b got a's packet unchanged (or %d bytes): no tone", n)
	}
	if not, err := play(Party{FromTag: "b"}); err != nil || !slices.Equal(not, []string{"b"}) {
		t.Errorf("play DTMF from b, whose answer did not ask: %v %v, want [b] not injectable", not, err)
	}
	if not, err := play(Party{All: true}); err != nil || !slices.Equal(not, []string{"b"}) {
		t.Errorf("play DTMF to all: %v %v", not, err)
	}
	for _, e := range []struct {
		p    Party
		want error
	}{
		{Party{}, ErrNoParty},
		{Party{FromTag: "x"}, ErrUnknownTag},
	} {
		if _, err := play(e.p); !errors.Is(err, e.want) {
			t.Errorf("%+v: %v, want %v", e.p, err, e.want)
		}
	}
	if _, err := r.PlayDTMF(DTMFParams{Party: Party{CallID: "nosuch", FromTag: "a"}}); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("unknown call: %v", err)
	}
}
