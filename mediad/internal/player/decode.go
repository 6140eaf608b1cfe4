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

// Rate is the sample rate audio is played at: G.711's.
const Rate = 8000

// MaxDuration bounds how much of a file plays: an announcement or hold
// music, not an album; the rest is cut off.
const MaxDuration = 10 * time.Minute

// MaxFileSize bounds the files and blobs read.
const MaxFileSize = 32 << 20

// Errors of Decode.
var (
	ErrFormat = errors.New("not a WAV or MP3 file")
	ErrEmpty  = errors.New("no audio in the file")
)

// Audio is a WAV or MP3 file checked for playing. Its samples are
// decoded as they play (open), so that a long file neither delays the
// control reply nor sits in memory decoded.
type Audio struct {
	data     []byte
	mp3      bool
	duration time.Duration
}

// Duration is how long the audio plays (at most MaxDuration).
func (a *Audio) Duration() time.Duration { return a.duration }

// Decode checks that b is a WAV file (PCM of 8 to 32 bits, µ-law or
// A-law; any rate; channels mixed down) or an MP3 file, that its first
// samples decode, and measures it; the samples come from open.
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
	a = &Audio{data: b}
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
	case len(b) >= 3 && (string(b[:3]) == "ID3" || b[0] == 0xff && b[1]&0xe0 == 0xe0):
		a.mp3 = true
	default:
		return nil, ErrFormat
	}
	r, err := a.open()
	if err != nil {
		return nil, err
	}
	var first [160]int16
	if r.read(first[:]) == 0 {
		if r.err != nil {
			return nil, r.err
		}
		return nil, ErrEmpty
	}
	a.duration = min(r.duration, MaxDuration)
	return a, nil
}

// reader reads an Audio's samples at Rate.
type reader struct {
	src      source
	rs       resampler
	buf      []int16 // the source's samples, before resampling
	left     int     // samples at Rate left before MaxDuration
	eof      bool
	err      error // why the source ended early
	duration time.Duration
}

// source reads mono samples at the file's rate into p.
type source interface {
	next(p []int16) (int, error)
}

// open starts reading a from its beginning.
func (a *Audio) open() (*reader, error) {
	var (
		src  source
		rate int
		d    time.Duration
		err  error
	)
	if a.mp3 {
		src, rate, d, err = openMP3(a.data)
	} else {
		src, rate, d, err = openWAV(a.data)
	}
	if err != nil {
		return nil, err
	}
	return &reader{src: src, rs: resampler{from: rate, to: Rate}, buf: make([]int16, 4096),
		left: int(MaxDuration / time.Second * Rate), duration: d}, nil
}

// read fills p with the next samples; fewer than len(p) only at the end.
func (r *reader) read(p []int16) int {
	n := 0
	for n < len(p) && r.left > 0 {
		m := r.rs.produce(p[n:n+min(len(p)-n, r.left)], r.eof)
		n += m
		r.left -= m
		if n == len(p) || r.eof {
			break
		}
		k, err := r.src.next(r.buf)
		r.rs.push(r.buf[:k])
		if err != nil {
			r.eof = true
			if err != io.EOF {
				r.err = err
			}
		}
	}
	return n
}

// mix mixes one frame of channels down to a sample.
func mix(frame []int) int16 {
	sum := 0
	for _, v := range frame {
		sum += v
	}
	return int16(min(max(sum/len(frame), -32768), 32767))
}

// WAV format codes (the fmt chunk's, or an extensible one's subformat).
const (
	wavPCM  = 1
	wavALaw = 6
	wavULaw = 7
	wavExt  = 0xfffe
)

// checkChunks walks a WAV file's chunks up to its data and returns the
// bytes of data the file holds: each chunk before must fit in the file,
// and fmt must have its 16 bytes. (go-audio allocates what a chunk
// header claims, up to 4 GiB, before reading it.)
func checkChunks(b []byte) (int64, error) {
	for pos := 12; pos+8 <= len(b); {
		id, size := string(b[pos:pos+4]), int64(binary.LittleEndian.Uint32(b[pos+4:]))
		if id == "data" {
			return min(size, int64(len(b)-pos-8)), nil // may be cut off: read as a stream
		}
		if size > int64(len(b)-pos-8) || id == "fmt " && size < 16 {
			return 0, fmt.Errorf("WAV: chunk %q of %d bytes at %d in %d", id, size, pos, len(b))
		}
		pos += 8 + int(size) + int(size&1)
	}
	return 0, errors.New("WAV: no data chunk")
}

type wavSource struct {
	d     *wav.Decoder
	ch    int
	conv  func(int) int
	buf   *audio.IntBuffer
	frame []int
}

func openWAV(b []byte) (source, int, time.Duration, error) {
	size, err := checkChunks(b)
	if err != nil {
		return nil, 0, 0, err
	}
	d := wav.NewDecoder(bytes.NewReader(b))
	if !d.IsValidFile() {
		return nil, 0, 0, fmt.Errorf("WAV: no valid header: %v", d.Err())
	}
	ch, rate, bits := int(d.NumChans), int(d.SampleRate), int(d.BitDepth)
	format := int(d.WavAudioFormat)
	if format == wavExt {
		format = wavPCM // what this decoder reads of extensible files
	}
	if ch < 1 || ch > 8 || rate < 1000 || rate > 192000 {
		return nil, 0, 0, fmt.Errorf("WAV: %d channels at %d Hz", ch, rate)
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
		return nil, 0, 0, fmt.Errorf("WAV: format %d with %d bits per sample", d.WavAudioFormat, bits)
	}
	frames := size / int64(ch*bits/8)
	s := &wavSource{d: d, ch: ch, conv: conv, buf: &audio.IntBuffer{Data: make([]int, 1024*ch)}, frame: make([]int, ch)}
	return s, rate, time.Duration(frames) * time.Second / time.Duration(rate), nil
}

func (s *wavSource) next(p []int16) (int, error) {
	want := min(len(p), 1024) * s.ch
	n, err := s.d.PCMBuffer(&audio.IntBuffer{Data: s.buf.Data[:want]})
	if err != nil {
		return 0, fmt.Errorf("WAV: %w", err)
	}
	k := 0
	for i := 0; i+s.ch <= n; i += s.ch {
		for c := range s.ch {
			s.frame[c] = s.conv(s.buf.Data[i+c])
		}
		p[k] = mix(s.frame)
		k++
	}
	if n == 0 {
		return 0, io.EOF
	}
	return k, nil
}

type mp3Source struct {
	d     *mp3.Decoder
	buf   []byte // 16-bit little-endian stereo
	frame []int
}

func openMP3(b []byte) (source, int, time.Duration, error) {
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("MP3: %w", err)
	}
	rate := d.SampleRate()
	if rate < 1000 || rate > 192000 {
		return nil, 0, 0, fmt.Errorf("MP3: %d Hz", rate)
	}
	// Length counts the frames from their headers, without decoding.
	dur := time.Duration(max(d.Length(), 0)/4) * time.Second / time.Duration(rate)
	return &mp3Source{d: d, buf: make([]byte, 4096), frame: make([]int, 2)}, rate, dur, nil
}

func (s *mp3Source) next(p []int16) (int, error) {
	n, err := io.ReadFull(s.d, s.buf[:4*min(len(p), len(s.buf)/4)])
	k := 0
	for i := 0; i+4 <= n; i += 4 {
		s.frame[0] = int(int16(binary.LittleEndian.Uint16(s.buf[i:])))
		s.frame[1] = int(int16(binary.LittleEndian.Uint16(s.buf[i+2:])))
		p[k] = mix(s.frame)
		k++
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return k, io.EOF
	case err != nil:
		return k, fmt.Errorf("MP3: %w", err)
	}
	return k, nil
}

// resampler converts a stream of samples from rate from to rate to:
// each output sample is the mean of the input samples around its time
// when reducing the rate (a box filter against aliasing), else
// interpolated linearly between the two nearest. (ffmpeg, which
// rtpengine uses, filters better.) Output sample i sits at input
// i*from/to, computed exactly, so that nothing drifts over a long file.
type resampler struct {
	from, to int
	in       []int16 // input not consumed yet; in[0] is input sample base
	base     int64
	out      int64 // output samples produced
}

func (r *resampler) push(p []int16) { r.in = append(r.in, p...) }

// produce writes the output samples the buffered input allows into out;
// with final, the input is complete and its end is used up: every output
// sample whose time falls within the input comes out.
func (r *resampler) produce(out []int16, final bool) int {
	n := 0
	for n < len(out) {
		num := r.out * int64(r.from) // position r.out*from/to, as num/to
		j := num/int64(r.to) - r.base
		if r.from > r.to {
			hi := (num+int64(r.from))/int64(r.to) - r.base
			if hi > int64(len(r.in)) {
				if !final {
					break
				}
				hi = int64(len(r.in))
			}
			if j >= hi {
				break
			}
			sum := 0
			for _, v := range r.in[j:hi] {
				sum += int(v)
			}
			out[n] = int16(sum / int(hi-j))
		} else {
			if j+1 >= int64(len(r.in)) {
				if !final || j >= int64(len(r.in)) {
					break
				}
				out[n] = r.in[j]
			} else {
				f := float64(num%int64(r.to)) / float64(r.to)
				out[n] = int16(float64(r.in[j])*(1-f) + float64(r.in[j+1])*f)
			}
		}
		n++
		r.out++
	}
	// Drop the input no later output needs.
	if drop := min(r.out*int64(r.from)/int64(r.to)-r.base, int64(len(r.in))); drop > 0 {
		r.in = r.in[:copy(r.in, r.in[drop:])]
		r.base += drop
	}
	return n
}
