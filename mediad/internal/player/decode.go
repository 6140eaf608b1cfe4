package player

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"
	"github.com/hajimehoshi/go-mp3"
	"github.com/zaf/g711"
)

// Rate is the sample rate of decoded audio: G.711's.
const Rate = 8000

// MaxDuration bounds how much of a file is decoded: an announcement or
// hold music, not an album; the rest is cut off.
const MaxDuration = 10 * time.Minute

// MaxFileSize bounds the files and blobs read.
const MaxFileSize = 32 << 20

// Errors of Decode.
var (
	ErrFormat = errors.New("not a WAV or MP3 file")
	ErrEmpty  = errors.New("no audio in the file")
)

// Audio is decoded mono audio at Rate.
type Audio struct {
	Samples []int16
}

// Duration is how long the audio plays.
func (a *Audio) Duration() time.Duration {
	return time.Duration(len(a.Samples)) * time.Second / Rate
}

// Decode reads a WAV file (PCM of 8 to 32 bits, µ-law or A-law; any
// rate; channels mixed down) or an MP3 file, resampled to Rate.
func Decode(b []byte) (a *Audio, err error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), MaxFileSize)
	}
	defer func() {
		// The decoders are third-party code fed what a control message
		// or a file brings: a panic on garbage is a refused file.
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%w: decoder failed: %v", ErrFormat, r)
		}
	}()
	var m *mono
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		m, err = decodeWAV(b)
	case len(b) >= 3 && (string(b[:3]) == "ID3" || b[0] == 0xff && b[1]&0xe0 == 0xe0):
		m, err = decodeMP3(b)
	default:
		return nil, ErrFormat
	}
	if err != nil {
		return nil, err
	}
	a = &Audio{Samples: resample(m.samples, m.rate, Rate)}
	if len(a.Samples) == 0 {
		return nil, ErrEmpty
	}
	return a, nil
}

// mono is decoded audio at its own rate.
type mono struct {
	samples []int16
	rate    int
}

// add appends one frame of channels interleaved samples, mixed down;
// false once MaxDuration is reached.
func (m *mono) add(frame []int) bool {
	if len(m.samples) >= int(MaxDuration/time.Second)*m.rate {
		return false
	}
	sum := 0
	for _, v := range frame {
		sum += v
	}
	m.samples = append(m.samples, int16(min(max(sum/len(frame), -32768), 32767)))
	return true
}

// WAV format codes (the fmt chunk's, or an extensible one's subformat).
const (
	wavPCM  = 1
	wavALaw = 6
	wavULaw = 7
	wavExt  = 0xfffe
)

// checkChunks walks a WAV file's chunks up to its data: each must fit
// in the file, and fmt must have its 16 bytes. go-audio allocates what a
// chunk header claims (up to 4 GiB) before reading it.
func checkChunks(b []byte) error {
	for pos := 12; pos+8 <= len(b); {
		id, size := string(b[pos:pos+4]), int64(binary.LittleEndian.Uint32(b[pos+4:]))
		if id == "data" {
			return nil // may run past the end: it is read as a stream
		}
		if size > int64(len(b)-pos-8) || id == "fmt " && size < 16 {
			return fmt.Errorf("WAV: chunk %q of %d bytes at %d in %d", id, size, pos, len(b))
		}
		pos += 8 + int(size) + int(size&1)
	}
	return errors.New("WAV: no data chunk")
}

func decodeWAV(b []byte) (*mono, error) {
	if err := checkChunks(b); err != nil {
		return nil, err
	}
	d := wav.NewDecoder(bytes.NewReader(b))
	if !d.IsValidFile() {
		return nil, fmt.Errorf("WAV: no valid header: %v", d.Err())
	}
	ch, rate, bits := int(d.NumChans), int(d.SampleRate), int(d.BitDepth)
	format := int(d.WavAudioFormat)
	if format == wavExt {
		format = wavPCM // what this decoder reads of extensible files
	}
	if ch < 1 || ch > 8 || rate < 1000 || rate > 192000 {
		return nil, fmt.Errorf("WAV: %d channels at %d Hz", ch, rate)
	}
	var conv func(int) int
	switch {
	case format == wavPCM && bits == 8:
		conv = func(v int) int { return (v - 128) << 8 } // unsigned
	case format == wavPCM && bits == 16:
		conv = func(v int) int { return v }
	case format == wavPCM && bits == 24:
		conv = func(v int) int { return v >> 8 }
	case format == wavPCM && bits == 32:
		conv = func(v int) int { return v >> 16 }
	case format == wavULaw && bits == 8:
		conv = func(v int) int { return int(g711.DecodeUlawFrame(uint8(v))) }
	case format == wavALaw && bits == 8:
		conv = func(v int) int { return int(g711.DecodeAlawFrame(uint8(v))) }
	default:
		return nil, fmt.Errorf("WAV: format %d with %d bits per sample", d.WavAudioFormat, bits)
	}
	m := &mono{rate: rate}
	buf := &audio.IntBuffer{Data: make([]int, 4096*ch)}
	frame := make([]int, ch)
	for {
		n, err := d.PCMBuffer(buf)
		if err != nil {
			return nil, fmt.Errorf("WAV: %w", err)
		}
		if n == 0 {
			return m, nil
		}
		for i := 0; i+ch <= n; i += ch {
			for c := range ch {
				frame[c] = conv(buf.Data[i+c])
			}
			if !m.add(frame) {
				return m, nil
			}
		}
	}
}

func decodeMP3(b []byte) (*mono, error) {
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("MP3: %w", err)
	}
	m := &mono{rate: d.SampleRate()}
	if m.rate < 1000 || m.rate > 192000 {
		return nil, fmt.Errorf("MP3: %d Hz", m.rate)
	}
	buf := make([]byte, 4096) // 16-bit little-endian stereo
	frame := make([]int, 2)
	for {
		n, err := io.ReadFull(d, buf)
		for i := 0; i+4 <= n; i += 4 {
			frame[0] = int(int16(uint16(buf[i]) | uint16(buf[i+1])<<8))
			frame[1] = int(int16(uint16(buf[i+2]) | uint16(buf[i+3])<<8))
			if !m.add(frame) {
				return m, nil
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("MP3: %w", err)
		}
	}
}

// resample converts in from rate from to rate to: each output sample is
// the mean of the input samples around its time when reducing the rate
// (a box filter against aliasing), else interpolated linearly between
// the two nearest. (ffmpeg, which rtpengine uses, filters better.)
func resample(in []int16, from, to int) []int16 {
	if from == to {
		return in
	}
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]int16, n)
	ratio := float64(from) / float64(to)
	for i := range out {
		x := float64(i) * ratio
		if ratio > 1 {
			lo, hi := int(x), min(int(x+ratio), len(in))
			sum := 0
			for _, v := range in[lo:hi] {
				sum += int(v)
			}
			out[i] = int16(sum / max(hi-lo, 1))
			continue
		}
		j := int(x)
		if j+1 >= len(in) {
			out[i] = in[len(in)-1]
			continue
		}
		f := x - float64(j)
		out[i] = int16(float64(in[j])*(1-f) + float64(in[j+1])*f)
	}
	return out
}
