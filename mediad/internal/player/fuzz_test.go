package player

import (
	"os"
	"testing"
	"time"
)

// FuzzDecode: any bytes decode to audio within MaxDuration or to an
// error; never a panic out of the decoders.
func FuzzDecode(f *testing.F) {
	f.Add(wavFile(1, 16, 1, 8000, 440, 0.5, 0.05))
	f.Add(wavFile(1, 8, 2, 16000, 440, 0.5, 0.05))
	f.Add(wavFile(7, 8, 1, 8000, 440, 0.5, 0.05))
	f.Add(wavFile(1, 24, 1, 44100, 440, 0.5, 0.02))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"))
	if b, err := os.ReadFile(mp3Example(&testing.T{})); err == nil && len(b) > 4096 {
		f.Add(b[:4096])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b)
		if err != nil {
			return
		}
		if a.Duration() > MaxDuration {
			t.Fatalf("duration %v", a.Duration())
		}
		r, err := a.open()
		if err != nil {
			t.Fatalf("decoded, but opens with %v", err)
		}
		buf := make([]int16, 4000)
		n := 0
		for k := r.read(buf); k > 0; k = r.read(buf) {
			n += k
		}
		if n == 0 || time.Duration(n)*time.Second/Rate > MaxDuration {
			t.Fatalf("%d samples", n)
		}
	})
}
