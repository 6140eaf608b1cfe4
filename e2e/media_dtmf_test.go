package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zaf/g711"

	"sipmedia/ngproto"
)

// dtmfLine is one line of rtpengine's --dtmf-log-dest.
type dtmfLine struct {
	CallID    string   `json:"callid"`
	SourceTag string   `json:"source_tag"`
	Tags      []string `json:"tags"`
	Type      string   `json:"type"`
	Timestamp int64    `json:"timestamp"`
	SourceIP  string   `json:"source_ip"`
	Event     int      `json:"event"`
	Duration  int      `json:"duration"`
	Volume    int      `json:"volume"`
}

// sendEvent sends one RFC 4733 event from p: three progress packets and
// three end packets, all with the event's timestamp.
func (p *blockParty) sendEvent(t *testing.T, pt byte, event, volume byte, ts uint32) {
	t.Helper()
	for i := range 6 {
		p.seq++
		pkt := make([]byte, 16)
		pkt[0], pkt[1] = 0x80, pt
		if i == 0 {
			pkt[1] |= 0x80 // marker on the first packet
		}
		binary.BigEndian.PutUint16(pkt[2:], p.seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
		pkt[12], pkt[13] = event, volume
		if i >= 3 {
			pkt[13] |= 0x80
		}
		binary.BigEndian.PutUint16(pkt[14:], uint16(160*(min(i, 3)+1)))
		if _, err := p.rtp.WriteToUDPAddrPort(pkt, p.to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDTMFLog compares rtpengine's --dtmf-log-dest with mediad's: one
// JSON line per event at its first end packet, from either party, with
// the call, the sender's tag and every tag, the source address, the
// event, its duration in milliseconds and its volume; a blocked event is
// still logged.
func TestDTMFLog(t *testing.T) {
	logs := udpSinks(t)
	extra := func(name string) []string { return []string{"--dtmf-log-dest=" + logs[name].LocalAddr().String()} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		lg := logs[name]
		callID := "dtmf-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		a.send(t)
		b.send(t)
		receivedBy(t, a, b)

		start := time.Now().Unix()
		a.sendEvent(t, 101, 5, 10, 160000)
		b.sendEvent(t, 101, 11, 20, 320000)
		ngDo(t, ng, dict("block DTMF", kv{"call-id": callID}))
		a.sendEvent(t, 101, 0, 3, 480000)
		var got []dtmfLine
		eachDatagram(lg, 500*time.Millisecond, func(b []byte) {
			var l dtmfLine
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatalf("log line %q: %v", b, err)
			}
			got = append(got, l)
		})
		want := []dtmfLine{
			{CallID: callID, SourceTag: "ta", Type: "DTMF", SourceIP: "127.0.0.1", Event: 5, Duration: 80, Volume: 10},
			{CallID: callID, SourceTag: "tb", Type: "DTMF", SourceIP: "127.0.0.1", Event: 11, Duration: 80, Volume: 20},
			{CallID: callID, SourceTag: "ta", Type: "DTMF", SourceIP: "127.0.0.1", Event: 0, Duration: 80, Volume: 3},
		}
		if len(got) != len(want) {
			t.Fatalf("logged %+v, want %d lines", got, len(want))
		}
		for i, l := range got {
			slices.Sort(l.Tags)
			if !slices.Equal(l.Tags, []string{"ta", "tb"}) || l.Timestamp < start || l.Timestamp > time.Now().Unix() {
				t.Errorf("line %d: tags %v, timestamp %d", i, l.Tags, l.Timestamp)
			}
			l.Tags, l.Timestamp = nil, 0
			if !reflect.DeepEqual(l, want[i]) {
				t.Errorf("line %d: %+v, want %+v", i, l, want[i])
			}
		}
		ngDo(t, ng, del(callID, nil))
	})
}

// playedPacket is one RTP packet a phone received during a play DTMF
// test.
type playedPacket struct {
	pt           byte
	marker       bool
	seq          uint16
	ts           uint32
	payload      []byte
	event, vol   byte
	end          bool
	eventSamples uint16
}

// streamAndPlay sends 50 PCMU packets from a to b, one per 20 ms, and at
// the 10th and 11th packet sends the play DTMF requests plays (as from
// a); it returns the replies and what b received.
func streamAndPlay(t *testing.T, ng, callID string, a, b *blockParty, plays ...kv) ([]ngproto.Dict, []playedPacket) {
	t.Helper()
	done := make(chan []playedPacket)
	go func() {
		var got []playedPacket
		eachDatagram(b.rtp, 500*time.Millisecond, func(p []byte) {
			if len(p) < 12 || p[1]&0x7f >= 72 && p[1]&0x7f <= 76 {
				return
			}
			pp := playedPacket{pt: p[1] & 0x7f, marker: p[1]&0x80 != 0, seq: binary.BigEndian.Uint16(p[2:]),
				ts: binary.BigEndian.Uint32(p[4:]), payload: bytes.Clone(p[12:])}
			if pp.pt == 101 && len(p) >= 16 {
				pp.event, pp.end, pp.vol = p[12], p[13]&0x80 != 0, p[13]&0x3f
				pp.eventSamples = binary.BigEndian.Uint16(p[14:])
			}
			got = append(got, pp)
		})
		done <- got
	}()
	var replies []ngproto.Dict
	for i := range 50 {
		a.seq++
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:], 1000+uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], 5000+uint32(i)*160)
		binary.BigEndian.PutUint32(pkt[8:], a.ssrc)
		copy(pkt[12:], bytes.Repeat([]byte{0x55}, 160))
		if _, err := a.rtp.WriteToUDPAddrPort(pkt, a.to); err != nil {
			t.Fatal(err)
		}
		if i >= 10 && i-10 < len(plays) {
			req := dict("play DTMF", merge(kv{"call-id": callID, "from-tag": a.tag}, plays[i-10]))
			replies = append(replies, ngDo(t, ng, req))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return replies, <-done
}

// eventSummary describes the RFC 4733 events among pkts, one string per
// event: code, volume, marker on its first packet, how many progress
// and end packets, the end's duration; and whether all of them carry
// one timestamp.
func eventSummary(pkts []playedPacket) []string {
	var out []string
	var cur *playedPacket
	progress, ends, markers, sameTS := 0, 0, 0, true
	flush := func() {
		if cur != nil {
			out = append(out, fmt.Sprintf("event %d vol %d: %d progress, %d end (duration %d), %d marker, one timestamp %v",
				cur.event, cur.vol, progress, ends, cur.eventSamples, markers, sameTS))
		}
		cur, progress, ends, markers, sameTS = nil, 0, 0, 0, true
	}
	for i := range pkts {
		p := &pkts[i]
		if p.pt != 101 {
			continue
		}
		if cur != nil && (p.event != cur.event || p.ts != cur.ts) {
			flush()
		}
		if cur != nil && p.ts != cur.ts {
			sameTS = false
		}
		if p.marker {
			markers++
		}
		if p.end {
			ends++
		} else {
			progress++
		}
		cur = p
	}
	flush()
	return out
}

// TestPlayDTMF compares rtpengine 10.5's play DTMF with mediad's on a
// call set up with "inject DTMF": the digits go into the audio the
// named party sends, in place of that audio: as RFC 4733 events when
// the receiver has telephone-event (same events, volumes, packet counts
// and durations on both daemons; the second digit queued behind the
// first), else as a G.711 tone (the digit's two frequencies for its
// duration, then silence for the pause). Without "inject DTMF" both
// answer ok and play nothing; a bad code, no party and an unknown call
// get the same errors on both.
func TestPlayDTMF(t *testing.T) {
	inject := kv{"flags": []string{"inject DTMF"}}
	type result struct {
		events, tone, errors []string
	}
	m, r := compareOnBoth(t, nil, func(t *testing.T, name, ng string) (res result) {

		// Events: PCMU with telephone-event on both sides.
		a, b := newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)
		r := ngDo(t, ng, offer("play-ev", a.tag, a.sdp(1), inject))
		b.learn(t, r.Str("sdp"))
		r = ngDo(t, ng, answer("play-ev", a.tag, b.tag, b.sdp(2), inject))
		a.learn(t, r.Str("sdp"))
		replies, got := streamAndPlay(t, ng, "play-ev", a, b,
			kv{"digit": "5", "volume": 10, "duration": 200}, kv{"code": 11, "volume": -20, "duration": 100})
		for _, rep := range replies {
			if rep.Str("result") != "ok" {
				t.Fatalf("play DTMF: %v", rep)
			}
		}
		// rtpengine sends the events of a queued digit out of order: in
		// sequence, as a receiver's jitter buffer puts them.
		slices.SortFunc(got, func(x, y playedPacket) int { return int(x.seq) - int(y.seq) })
		res.events = eventSummary(got)
		if len(got) < 40 || got[len(got)-1].pt != 0 {
			t.Errorf("audio did not come back after the events: %d packets, the last %+v", len(got), got[len(got)-1])
		}

		// A tone: PCMU alone.
		a, b = newBlockParty(t, "ta", 0x3333), newBlockParty(t, "tb", 0x4444)
		r = ngDo(t, ng, offer("play-tone", a.tag, pcmuOnly(a.sdp(1)), inject))
		b.learn(t, r.Str("sdp"))
		r = ngDo(t, ng, answer("play-tone", a.tag, b.tag, pcmuOnly(b.sdp(2)), inject))
		a.learn(t, r.Str("sdp"))
		replies, got = streamAndPlay(t, ng, "play-tone", a, b, kv{"digit": "1", "volume": 10, "duration": 100, "pause": 100})
		if replies[0].Str("result") != "ok" {
			t.Fatalf("play DTMF: %v", replies[0])
		}
		res.tone = toneSummary(t, got)

		// Without inject DTMF: ok, and the audio untouched.
		a, b = newBlockCall(t, ng, "play-none", nil)
		replies, got = streamAndPlay(t, ng, "play-none", a, b, kv{"digit": "5"})
		if replies[0].Str("result") != "ok" {
			t.Errorf("play DTMF without inject DTMF: %v", replies[0])
		}
		for _, p := range got {
			if p.pt != 0 || p.payload[0] != 0x55 {
				t.Fatalf("a packet changed without inject DTMF: %+v", p)
			}
		}

		for _, req := range []kv{
			{"call-id": "play-ev", "from-tag": "ta", "digit": "X"},
			{"call-id": "play-ev", "from-tag": "ta", "code": 16},
			{"call-id": "play-ev", "from-tag": "ta"},
			{"call-id": "play-ev", "digit": "1"},
			{"call-id": "play-ev", "from-tag": "nobody", "digit": "1"},
			{"call-id": "no-such-call", "from-tag": "ta", "digit": "1"},
			{"from-tag": "ta", "digit": "1"},
		} {
			r := ngDo(t, ng, dict("play DTMF", req))
			res.errors = append(res.errors, r.Str("result")+": "+r.Str("error-reason"))
		}
		return res
	})
	t.Logf("rtpengine: %q", r)
	if len(m.events) != 2 || !reflect.DeepEqual(m.events, r.events) {
		t.Errorf("events differ:\nmediad    %q\nrtpengine %q", m.events, r.events)
	}
	// Where the tone starts depends on whether the sender's packet sent
	// just before the command was relayed before it (on a loaded
	// machine, one packet either way): the audio around it is compared
	// in total.
	if len(m.tone) == 0 || !reflect.DeepEqual(toneCore(m.tone), toneCore(r.tone)) {
		t.Errorf("tones differ:\nmediad    %q\nrtpengine %q", m.tone, r.tone)
	}
	if !reflect.DeepEqual(m.errors, r.errors) {
		t.Errorf("errors differ:\nmediad    %q\nrtpengine %q", m.errors, r.errors)
	}
}

// pcmuOnly is an SDP of blockParty without its telephone-event.
func pcmuOnly(s string) string {
	s = strings.Replace(s, "RTP/AVP 0 101", "RTP/AVP 0", 1)
	s = strings.Replace(s, "a=rtpmap:101 telephone-event/8000\r\n", "", 1)
	return strings.Replace(s, "a=fmtp:101 0-15\r\n", "", 1)
}

// toneSummary describes what a G.711 tone did to the packets: runs of
// packets that carry a tone (and which DTMF frequencies, and the level
// to the nearest 2 dB), silence, or the sender's audio.
func toneSummary(t *testing.T, pkts []playedPacket) []string {
	t.Helper()
	var out []string
	last, n := "", 0
	for _, p := range pkts {
		kind := "audio"
		switch {
		case p.pt != 0:
			kind = fmt.Sprintf("payload type %d", p.pt)
		case bytes.Count(p.payload, []byte{0xff}) == len(p.payload):
			kind = "silence"
		case p.payload[0] != 0x55 || p.payload[80] != 0x55:
			kind = "tone " + dtmfTone(p.payload)
		}
		if kind != last && n > 0 {
			out = append(out, fmt.Sprintf("%d x %s", n, last))
			n = 0
		}
		last = kind
		n++
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%d x %s", n, last))
	}
	return out
}

// toneCore is a toneSummary with the sender's audio before and after
// the digit counted together.
func toneCore(s []string) []string {
	audio := 0
	var out []string
	for i, x := range s {
		if n, ok := strings.CutSuffix(x, " x audio"); ok && (i == 0 || i == len(s)-1) {
			k, _ := strconv.Atoi(n)
			audio += k
			continue
		}
		out = append(out, x)
	}
	return append(out, strconv.Itoa(audio)+" x audio around")
}

// dtmfTone names the DTMF frequencies present in a PCMU payload and its
// level in dB below full scale, rounded to an even number.
func dtmfTone(pl []byte) string {
	x := make([]float64, len(pl))
	var sum float64
	for i, b := range pl {
		x[i] = float64(g711.DecodeUlawFrame(b))
		sum += x[i] * x[i]
	}
	var freqs []string
	for _, f := range []float64{697, 770, 852, 941, 1209, 1336, 1477, 1633} {
		w := 2 * math.Pi * f / 8000
		c := 2 * math.Cos(w)
		var s1, s2 float64
		for _, v := range x {
			s1, s2 = v+c*s1-s2, s1
		}
		if (s1*s1+s2*s2-c*s1*s2)/(sum*float64(len(x))/2) > 0.3 {
			freqs = append(freqs, strconv.Itoa(int(f)))
		}
	}
	db := 20 * math.Log10(math.Sqrt(sum/float64(len(x)))/32768)
	return fmt.Sprintf("%s Hz at %d dBFS", strings.Join(freqs, "+"), 2*int(math.Round(db/2)))
}
