package player

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zaf/g711"

	"sipmedia/ngproto/testport"
)

// wavFile is a WAV file of format (1 PCM, 6 A-law, 7 µ-law) with bits
// per sample, channels and rate, a sine of freq Hz at amplitude amp
// (of full scale) lasting secs, every channel alike.
func wavFile(format, bits, channels, rate int, freq, amp, secs float64) []byte {
	n := int(float64(rate) * secs)
	bps := bits / 8
	var data []byte
	for i := range n {
		v := amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
		for range channels {
			switch {
			case format == 7:
				data = append(data, g711.EncodeUlawFrame(int16(v*32767)))
			case format == 6:
				data = append(data, g711.EncodeAlawFrame(int16(v*32767)))
			case bits == 8:
				data = append(data, byte(int(v*127)+128))
			default:
				x := int64(v * float64(int64(1)<<(bits-1)-1))
				for b := range bps {
					data = append(data, byte(x>>(8*b)))
				}
			}
		}
	}
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], uint16(format))
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*bps))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*bps))
	binary.LittleEndian.PutUint16(h[34:], uint16(bits))
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	return append(h, data...)
}

// power is the share of x's power at freq (8 kHz samples): near 1 for
// a pure tone of that frequency, near 0 without it.
func power(x []int16, freq float64) float64 {
	c := 2 * math.Cos(2*math.Pi*freq/Rate)
	var s1, s2, energy float64
	for _, v := range x {
		s1, s2 = float64(v)+c*s1-s2, s1
		energy += float64(v) * float64(v)
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / (energy * float64(len(x)) / 2)
}

func rms(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(x)))
}

// samples reads all of a's samples, as a playback does, in reads of
// odd sizes.
func samples(t *testing.T, a *Audio) []int16 {
	t.Helper()
	r, err := a.open()
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	buf := make([]int16, 333)
	for {
		n := r.read(buf)
		out = append(out, buf[:n]...)
		if n < len(buf) {
			if r.err != nil {
				t.Errorf("reading: %v", r.err)
			}
			return out
		}
	}
}

// TestDecodeWAV: every WAV layout rtpengine's announcements come in
// decodes to the same tone at 8 kHz, with its duration and level.
func TestDecodeWAV(t *testing.T) {
	for _, c := range []struct {
		name                         string
		format, bits, channels, rate int
	}{
		{"pcm16 8k mono", 1, 16, 1, 8000},
		{"pcm8 8k", 1, 8, 1, 8000},
		{"pcm24 16k", 1, 24, 1, 16000},
		{"pcm32 48k stereo", 1, 32, 2, 48000},
		{"pcm16 44.1k stereo", 1, 16, 2, 44100},
		{"pcm16 6k", 1, 16, 1, 6000},
		{"ulaw", 7, 8, 1, 8000},
		{"alaw stereo", 6, 8, 2, 8000},
	} {
		a, err := Decode(wavFile(c.format, c.bits, c.channels, c.rate, 440, 0.5, 1.5))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		x := samples(t, a)
		if d := a.Duration(); d != 1500*time.Millisecond || len(x) < 11990 || len(x) > 12000 {
			t.Errorf("%s: %v, %d samples, want 1.5 s", c.name, d, len(x))
		}
		mid := x[4000:8000]
		if p := power(mid, 440); p < 0.9 {
			t.Errorf("%s: 440 Hz is %.2f of the power", c.name, p)
		}
		if r, want := rms(mid), 0.5*32767/math.Sqrt2; math.Abs(r-want) > want*0.05 {
			t.Errorf("%s: RMS %.0f, want %.0f", c.name, r, want)
		}
	}
}

// mp3Example is the speech example shipped in go-mp3's module (public
// domain, 22.05 kHz, 75 s), from the module cache.
func mp3Example(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/hajimehoshi/go-mp3").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "example", "mpeg2.mp3")
}

func TestDecodeMP3(t *testing.T) {
	b, err := os.ReadFile(mp3Example(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	x := samples(t, a)
	if d, n := a.Duration(), time.Duration(len(x))*time.Second/Rate; d < 74*time.Second || d > 76*time.Second || n < d-50*time.Millisecond || n > d+50*time.Millisecond {
		t.Errorf("duration %v, %v of samples, want 75 s", d, n)
	}
	if r := rms(x[:10*Rate]); r < 300 {
		t.Errorf("the first 10 s at RMS %.0f: no speech", r)
	}
}

// TestDecodeRefuses: what is no audio is an error, never a panic; a
// cut-off file plays what it has.
func TestDecodeRefuses(t *testing.T) {
	good := wavFile(1, 16, 1, 8000, 440, 0.5, 0.2)
	cut := bytes.Clone(good[:44+800])
	for name, b := range map[string][]byte{
		"empty":       nil,
		"garbage":     []byte("garbage garbage garbage"),
		"riff only":   []byte("RIFF\x00\x00\x00\x00WAVE"),
		"no data":     good[:44],
		"bad format":  wavFile(3, 32, 1, 8000, 440, 0.5, 0.1), // IEEE float
		"zero rate":   wavFile(1, 16, 1, 0, 440, 0.5, 0.1),
		"odd bits":    wavFile(1, 12, 1, 8000, 440, 0.5, 0.1),
		"mp3 garbage": append([]byte("ID3"), bytes.Repeat([]byte{0xff, 0xfb, 1, 2}, 100)...),
		"too big":     make([]byte, MaxFileSize+1),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	a, err := Decode(cut)
	if err != nil || len(samples(t, a)) != 400 || a.Duration() != 50*time.Millisecond {
		t.Errorf("cut-off file: %v, want 400 samples in 50 ms", err)
	}
	if _, err := Decode([]byte("OggS....")); !errors.Is(err, ErrFormat) {
		t.Errorf("Ogg: %v, want ErrFormat", err)
	}
}

// udpSender sends a player's packets to a real socket.
type udpSender struct {
	c  *net.UDPConn
	to *net.UDPAddr
}

func (u udpSender) SendOwn(pkt, _ []byte) error {
	_, err := u.c.WriteToUDP(pkt, u.to)
	return err
}

// TestPlayer: the packets of a playback: PCMA of the audio, 160 bytes
// every 20 ms, one SSRC, sequence numbers and timestamps counting up
// from random values, the marker on the first; played twice; the last
// packet filled with silence; Stop ends it early.
func TestPlayer(t *testing.T) {
	rx := testport.UDP(t)
	tx := testport.UDP(t)
	a, err := Decode(wavFile(1, 16, 1, 8000, 1000, 0.3, 0.11)) // 880 samples: 5.5 packets
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p := Start(a, Codec{PT: 8, Law: 'a'}, 2, udpSender{tx, rx.LocalAddr().(*net.UDPAddr)}, slog.New(slog.DiscardHandler))
	var pkts [][]byte
	buf := make([]byte, 2048)
	for len(pkts) < 12 {
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(pkts), err)
		}
		pkts = append(pkts, bytes.Clone(buf[:n]))
	}
	<-p.Done()
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("12 packets in %v: not paced at 20 ms", el)
	}
	var pcm []int16
	for i, pk := range pkts {
		if len(pk) != 172 || pk[0] != 0x80 || pk[1]&0x7f != 8 || (pk[1]&0x80 != 0) != (i == 0) {
			t.Fatalf("packet %d: %x", i, pk[:12])
		}
		if binary.BigEndian.Uint32(pk[8:]) != binary.BigEndian.Uint32(pkts[0][8:]) ||
			binary.BigEndian.Uint16(pk[2:]) != binary.BigEndian.Uint16(pkts[0][2:])+uint16(i) ||
			binary.BigEndian.Uint32(pk[4:]) != binary.BigEndian.Uint32(pkts[0][4:])+uint32(160*i) {
			t.Errorf("packet %d: header %x after %x", i, pk[:12], pkts[0][:12])
		}
		for _, b := range pk[12:] {
			pcm = append(pcm, g711.DecodeAlawFrame(b))
		}
	}
	if p := power(pcm[:800], 1000); p < 0.9 {
		t.Errorf("1 kHz is %.2f of the first round's power", p)
	}
	if r := rms(pcm[880:960]); r > 10 {
		t.Errorf("the rest of the last packet of a round at RMS %.0f, want silence", r)
	}
	if r := rms(pcm[960 : 960+800]); r < 6000 {
		t.Errorf("the second round at RMS %.0f: not played again", r)
	}

	long, _ := Decode(wavFile(1, 16, 1, 8000, 1000, 0.3, 5))
	p = Start(long, Codec{PT: 0, Law: 'u'}, 1, udpSender{tx, rx.LocalAddr().(*net.UDPAddr)}, slog.New(slog.DiscardHandler))
	time.Sleep(100 * time.Millisecond)
	p.Stop()
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the playback ended")
	}
}

// TestResamplerChunks: the resampler gives the same samples, one for
// each output time within the input, however its input arrives, at
// every rate.
func TestResamplerChunks(t *testing.T) {
	in := make([]int16, 10007)
	for i := range in {
		in[i] = int16(i*37%2000 - 1000)
	}
	for _, from := range []int{6000, 8000, 11025, 16000, 22050, 44100, 48000} {
		whole := resampler{from: from, to: Rate}
		whole.push(in)
		want := make([]int16, len(in)*2)
		want = want[:whole.produce(want, true)]
		if n := (len(in)*Rate + from - 1) / from; len(want) != n {
			t.Errorf("%d Hz: %d samples, want %d", from, len(want), n)
		}
		for _, chunk := range []int{1, 7, 160, 4096} {
			r := resampler{from: from, to: Rate}
			var got []int16
			out := make([]int16, 50)
			for off := 0; off < len(in); off += chunk {
				r.push(in[off:min(off+chunk, len(in))])
				for n := r.produce(out, false); n > 0; n = r.produce(out, false) {
					got = append(got, out[:n]...)
				}
			}
			for n := r.produce(out, true); n > 0; n = r.produce(out, true) {
				got = append(got, out[:n]...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%d Hz in chunks of %d: %d samples differ from the whole's %d", from, chunk, len(got), len(want))
			}
		}
	}
}
