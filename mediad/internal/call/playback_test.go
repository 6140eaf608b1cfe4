package call

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"
)

// writeTone writes a WAV file (16-bit mono at rate) of a 1 kHz tone
// lasting secs, with go-audio's encoder.
func writeTone(t *testing.T, rate int, secs float64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "tone.wav")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	e := wav.NewEncoder(f, rate, 16, 1, 1)
	buf := &audio.IntBuffer{Format: &audio.Format{NumChannels: 1, SampleRate: rate}, SourceBitDepth: 16}
	for i := range int(float64(rate) * secs) {
		buf.Data = append(buf.Data, int(8000*math.Sin(2*math.Pi*1000*float64(i)/float64(rate))))
	}
	if err := e.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name
}

// TestPlayMedia: play media sends the named party a stream of its own
// (another SSRC than the other party's, PCMU as its SDP lists it) beside
// the forwarded media, with the file's duration; stop media ends it;
// deleting the call ends it too; rtpengine's errors otherwise.
func TestPlayMedia(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b := newPhone(t), newPhone(t)
	setupRelayCall(t, r, "play", a, b, nil)
	file := writeTone(t, 16000, 2)
	play := func(p MediaParams) (time.Duration, error) {
		p.CallID = "play"
		return r.PlayMedia(p)
	}
	if err := r.StopMedia(Party{CallID: "play", FromTag: "b"}); !errors.Is(err, ErrNotPlaying) {
		t.Errorf("stop media before any: %v", err)
	}
	d, err := play(MediaParams{Party: Party{FromTag: "b"}, File: file})
	if err != nil || d != 2*time.Second {
		t.Fatalf("play media: %v, %v", d, err)
	}
	buf := make([]byte, 2048)
	ssrc := uint32(0)
	for i := range 10 {
		_ = b.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := b.rtp.Read(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if n != 172 || buf[1]&0x7f != 0 || (buf[1]&0x80 != 0) != (i == 0) {
			t.Fatalf("packet %d: %d bytes, %x", i, n, buf[:12])
		}
		if i == 0 {
			ssrc = binary.BigEndian.Uint32(buf[8:])
		} else if s := binary.BigEndian.Uint32(buf[8:]); s != ssrc {
			t.Fatalf("packet %d: SSRC %x after %x", i, s, ssrc)
		}
	}
	if err := r.StopMedia(Party{CallID: "play", FromTag: "b"}); err != nil {
		t.Fatal(err)
	}
	drain(b.rtp)
	silent(t, b.rtp)
	if err := r.StopMedia(Party{CallID: "play", FromTag: "b"}); err != nil {
		t.Errorf("stop media again: %v", err)
	}

	if _, err := play(MediaParams{Party: Party{All: true}, File: file, Repeat: 3}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*phone{a, b} {
		_ = p.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := p.rtp.Read(buf); err != nil {
			t.Fatalf("all: nothing played: %v", err)
		}
	}
	if _, err := r.Delete(DeleteParams{CallID: "play", HasDelay: true}); err != nil {
		t.Fatal(err)
	}
	drain(a.rtp)
	drain(b.rtp)
	silent(t, a.rtp)
	silent(t, b.rtp)

	setupRelayCall(t, r, "play", a, b, nil)
	for _, c := range []struct {
		p    MediaParams
		want error
	}{
		{MediaParams{Party: Party{FromTag: "b"}}, ErrNoMediaFile},
		{MediaParams{Party: Party{FromTag: "b"}, File: "/nonexistent.wav"}, ErrPlayFile},
		{MediaParams{Party: Party{FromTag: "b"}, File: "/etc/hostname"}, ErrPlayFile},
		{MediaParams{Party: Party{FromTag: "b"}, File: "/dev/zero"}, ErrPlayFile},
		{MediaParams{Party: Party{FromTag: "b"}, Blob: []byte("garbage")}, ErrPlayBlob},
		{MediaParams{Party: Party{FromTag: "b"}, DBID: 3}, ErrPlayDB},
		{MediaParams{File: file}, ErrNoParty},
		{MediaParams{Party: Party{FromTag: "x"}, File: file}, ErrUnknownTag},
	} {
		if _, err := play(c.p); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.p, err, c.want)
		}
	}
	if _, err := r.PlayMedia(MediaParams{Party: Party{CallID: "nosuch", FromTag: "b"}, File: file}); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("unknown call: %v", err)
	}
}

// drain reads what c holds already: the packets sent before a stop.
func drain(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
