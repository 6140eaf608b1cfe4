package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"
	"github.com/zaf/g711"

	"sipmedia/ngproto"
)

// writeWAV writes a 16-bit WAV of channels at rate: a sine of freq Hz at
// half of full scale lasting secs, with go-audio's encoder.
func writeWAV(t *testing.T, rate, channels int, freq, secs float64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), fmt.Sprintf("tone-%d-%d.wav", rate, channels))
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := wav.NewEncoder(f, rate, 16, channels, 1)
	buf := &audio.IntBuffer{Format: &audio.Format{NumChannels: channels, SampleRate: rate}, SourceBitDepth: 16}
	for i := range int(float64(rate) * secs) {
		v := int(16383 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		for range channels {
			buf.Data = append(buf.Data, v)
		}
	}
	if err := e.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// mp3Speech is go-mp3's speech example (public domain, 75 s at
// 22.05 kHz) from the module cache: mediad depends on go-mp3.
func mp3Speech(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/hajimehoshi/go-mp3")
	cmd.Dir = filepath.Join("..", "mediad")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list go-mp3: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "example", "mpeg2.mp3")
}

// playback is what a party received of a daemon's media player: the
// packets under another SSRC than the other party's.
type playback struct {
	pkts [][]byte
}

// summary checks the player's packets are one well-formed stream and
// describes them: how many, the payload type, and the decoded audio's
// strongest of the test frequencies and level.
func (p playback) summary(t *testing.T) string {
	t.Helper()
	if len(p.pkts) == 0 {
		return "nothing"
	}
	var pcm []float64
	first := p.pkts[0]
	for i, pk := range p.pkts {
		if len(pk) != 172 || (pk[1]&0x80 != 0) != (i == 0) || pk[1]&0x7f != first[1]&0x7f ||
			binary.BigEndian.Uint16(pk[2:]) != binary.BigEndian.Uint16(first[2:])+uint16(i) ||
			binary.BigEndian.Uint32(pk[4:]) != binary.BigEndian.Uint32(first[4:])+uint32(160*i) ||
			!bytes.Equal(pk[8:12], first[8:12]) {
			t.Errorf("player packet %d: %x after %x", i, pk[:12], first[:12])
		}
		for _, b := range pk[12:] {
			pcm = append(pcm, float64(g711.DecodeUlawFrame(b)))
		}
	}
	best, bestP := 0.0, 0.0
	for _, f := range []float64{440, 1000, 2000} {
		if p := toneShare(pcm, f); p > bestP {
			best, bestP = f, p
		}
	}
	var sum float64
	for _, v := range pcm {
		sum += v * v
	}
	db := 20 * math.Log10(math.Sqrt(sum/float64(len(pcm)))/32768)
	return fmt.Sprintf("payload type %d, %v Hz (%.1f), %d dBFS", first[1]&0x7f, best, math.Round(bestP*10)/10, int(math.Round(db)))
}

// toneShare is the share of x's power at freq (8 kHz samples).
func toneShare(x []float64, freq float64) float64 {
	c := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, energy float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
		energy += v * v
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / (energy * float64(len(x)) / 2)
}

// playTo runs a play media request (from-tag b) while a sends PCMU for
// 1.2 s, and returns the reply and what b got from the player; with
// stopAfter, stop media goes that long after the play.
func playTo(t *testing.T, ng, callID string, a, b *blockParty, req kv, stopAfter time.Duration) (ngproto.Dict, playback) {
	t.Helper()
	done := make(chan playback)
	go func() {
		var pb playback
		eachDatagram(b.rtp, 400*time.Millisecond, func(p []byte) {
			if len(p) >= 12 && binary.BigEndian.Uint32(p[8:]) != a.ssrc && p[1] < 200 {
				pb.pkts = append(pb.pkts, bytes.Clone(p))
			}
		})
		done <- pb
	}()
	// The request runs beside a's packets: decoding a long MP3 takes
	// mediad a while, and a's media must not pause meanwhile.
	replies := make(chan ngproto.Dict, 1)
	var reply ngproto.Dict
	var start time.Time
	for i := range 60 {
		a.seq++
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		binary.BigEndian.PutUint16(pkt[2:], a.seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(a.seq)*160)
		binary.BigEndian.PutUint32(pkt[8:], a.ssrc)
		if _, err := a.rtp.WriteToUDPAddrPort(pkt, a.to); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			go func() {
				replies <- ngTry(t, ng, dict("play media", merge(kv{"call-id": callID, "from-tag": b.tag}, req)))
			}()
		}
		select {
		case reply = <-replies:
			start = time.Now()
		default:
		}
		if stopAfter > 0 && !start.IsZero() && time.Since(start) >= stopAfter {
			if r := ngDo(t, ng, dict("stop media", kv{"call-id": callID, "from-tag": b.tag})); r.Str("result") != "ok" {
				t.Errorf("stop media: %v", r)
			}
			stopAfter = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	if reply == nil {
		reply = <-replies
		start = time.Now()
	}
	if stopAfter > 0 {
		// The reply came late (a loaded machine, the race detector):
		// the stop still goes stopAfter after it, not never.
		time.Sleep(time.Until(start.Add(stopAfter)))
		if r := ngDo(t, ng, dict("stop media", kv{"call-id": callID, "from-tag": b.tag})); r.Str("result") != "ok" {
			t.Errorf("stop media: %v", r)
		}
	}
	return reply, <-done
}

// TestPlayMedia compares rtpengine 10.5's play media with mediad's: the
// named party hears the file as a stream of its own beside the other
// party's audio (one SSRC, sequence numbers and timestamps counting up,
// the marker on the first packet), in its first codec, PCMU: an 8 kHz
// WAV byte for byte alike, a 16 kHz stereo one and an MP3 alike in
// frequency and level, repeat-times, stop media; the replies' duration;
// the same errors.
func TestPlayMedia(t *testing.T) {
	wav8k := writeWAV(t, 8000, 1, 440, 0.5)
	wav16k := writeWAV(t, 16000, 2, 1000, 0.4)
	mp3 := mp3Speech(t)
	type result struct {
		replies, summaries, errors []string
		counts                     []int
		raw                        [][]byte
	}
	m, r := compareOnBoth(t, nil, func(t *testing.T, name, ng string) (res result) {
		a, b := newBlockCall(t, ng, "play", nil)
		for _, c := range []struct {
			req  kv
			stop time.Duration
		}{
			{kv{"file": wav8k}, 0},
			{kv{"file": wav16k, "repeat-times": 2}, 0},
			{kv{"blob": mustRead(t, wav8k)}, 200 * time.Millisecond},
			{kv{"file": mp3}, 600 * time.Millisecond},
		} {
			r, pb := playTo(t, ng, "play", a, b, c.req, c.stop)
			dur, _ := r.Int("duration")
			if strings.HasSuffix(fmt.Sprint(c.req["file"]), ".mp3") {
				// ffmpeg and go-mp3 count an MP3's frames alike within
				// a few milliseconds; the packets played stop by time.
				res.replies = append(res.replies, fmt.Sprintf("%s duration %.1f s", r.Str("result"), math.Round(float64(dur)/100)/10))
				res.counts = append(res.counts, len(pb.pkts))
				continue
			}
			res.replies = append(res.replies, fmt.Sprintf("%s duration %d", r.Str("result"), dur))
			res.summaries = append(res.summaries, pb.summary(t))
			res.counts = append(res.counts, len(pb.pkts))
			if len(res.raw) == 0 {
				for _, p := range pb.pkts {
					res.raw = append(res.raw, p[12:])
				}
			}
		}
		for _, req := range []kv{
			{"call-id": "play", "from-tag": "tb", "file": "/nonexistent.wav"},
			{"call-id": "play", "file": wav8k},
			{"call-id": "play", "from-tag": "tb"},
			{"call-id": "play", "from-tag": "tb", "blob": "garbage"},
			{"call-id": "play", "from-tag": "nobody", "file": wav8k},
			{"call-id": "no-such-call", "from-tag": "tb", "file": wav8k},
			{"from-tag": "tb", "file": wav8k},
		} {
			r := ngDo(t, ng, dict("play media", req))
			res.errors = append(res.errors, "play media: "+r.Str("result")+": "+r.Str("error-reason"))
		}
		for _, req := range []kv{
			{"call-id": "play", "from-tag": "ta"},
			{"call-id": "play", "from-tag": "tb"},
			{"call-id": "play"},
		} {
			r := ngDo(t, ng, dict("stop media", req))
			res.errors = append(res.errors, "stop media: "+r.Str("result")+": "+r.Str("error-reason"))
		}
		return res
	})
	t.Logf("rtpengine: %q %q, packets %v; mediad's packets %v", r.replies, r.summaries, r.counts, m.counts)
	// Packets played: the 8 kHz file alike; one less from rtpengine
	// where its resampler holds samples back; where stop media cut the
	// playback, what 20 ms ticks fell before it. The stop goes a fixed
	// time after the reply, and the replies to an MP3 come at varying
	// points of the playback (rtpengine's after ffmpeg probed the file;
	// 11 packets apart in a run under the race detector): 15 packets
	// either way, against the 3700 of a playback not stopped.
	for i, tol := range []int{0, 1, 4, 15} {
		if len(m.counts) != 4 || len(r.counts) != 4 || m.counts[i] < r.counts[i]-tol || m.counts[i] > r.counts[i]+tol {
			t.Errorf("packets played: mediad %v, rtpengine %v", m.counts, r.counts)
			break
		}
	}
	for _, c := range []struct {
		what string
		m, r []string
	}{{"replies", m.replies, r.replies}, {"playbacks", m.summaries, r.summaries}, {"errors", m.errors, r.errors}} {
		if len(c.m) == 0 || !reflect.DeepEqual(c.m, c.r) {
			t.Errorf("%s differ:\nmediad    %q\nrtpengine %q", c.what, c.m, c.r)
		}
	}
	// The 8 kHz WAV needs no resampling: the same samples, µ-law coded
	// alike but for rounding at segment edges (ffmpeg and zaf/g711 give
	// the peak 16383 codes one step apart).
	if len(m.raw) != 25 || len(r.raw) != 25 {
		t.Fatalf("the 8 kHz WAV: %d packets from mediad, %d from rtpengine", len(m.raw), len(r.raw))
	}
	same, near := 0, 0
	for i := range m.raw {
		for j := range m.raw[i] {
			switch d := int(m.raw[i][j]) - int(r.raw[i][j]); {
			case d == 0:
				same++
			case d == 1 || d == -1:
				near++
			default:
				t.Errorf("packet %d byte %d: mediad %02x, rtpengine %02x", i, j, m.raw[i][j], r.raw[i][j])
			}
		}
	}
	t.Logf("the 8 kHz WAV: %d of %d bytes equal, %d one µ-law step apart", same, 25*160, near)
}

// ngTry is ngDo for a goroutine of the test: a failure is the reply's
// error, not t.Fatal.
func ngTry(t *testing.T, addr string, req ngproto.Dict) ngproto.Dict {
	c, err := ngproto.Dial(addr, ngproto.ClientConfig{Retries: 3, Interval: 500 * time.Millisecond})
	if err == nil {
		defer c.Close()
		var r ngproto.Dict
		if r, err = c.Do(t.Context(), req); err == nil {
			return r
		}
	}
	return ngproto.Dict{"result": "error", "error-reason": err.Error()}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
