package player

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/zaf/g711"
)

// Ptime is the audio each packet carries.
const Ptime = 20 * time.Millisecond

const frameSamples = Rate * int(Ptime/time.Millisecond) / 1000

// Codec is what the party receives: a G.711 payload type.
type Codec struct {
	PT  uint8
	Law byte // 'u' (PCMU) or 'a' (PCMA)
}

// Sender sends an RTP packet to the party (relay.Stream's SendOwn).
type Sender interface {
	SendOwn(pkt, scratch []byte) error
}

// Player sends one Audio, repeated, to one party.
type Player struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start plays a, repeat times (at least once), to out as codec c: the
// first packet now, then one every Ptime, with an SSRC, sequence numbers
// and timestamps of its own, the marker bit on the first.
func Start(a *Audio, c Codec, repeat int, out Sender, log *slog.Logger) *Player {
	p := &Player{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(a, c, max(repeat, 1), out, log)
	return p
}

func (p *Player) run(a *Audio, c Codec, repeat int, out Sender, log *slog.Logger) {
	defer close(p.done)
	enc := g711.EncodeUlawFrame
	if c.Law == 'a' {
		enc = g711.EncodeAlawFrame
	}
	pkt := make([]byte, 12+frameSamples)
	scratch := make([]byte, 0, len(pkt)+128) // SRTP's tag and MKI
	pkt[0], pkt[1] = 0x80, 0x80|c.PT&0x7f
	binary.BigEndian.PutUint32(pkt[8:], rand.Uint32())
	seq, ts := uint16(rand.Uint32()), rand.Uint32()
	tick := time.NewTicker(Ptime)
	defer tick.Stop()
	failures := 0
	frame := make([]int16, frameSamples)
	for range repeat {
		r, err := a.open()
		if err != nil {
			log.Warn("media playback: opening", "err", err)
			return
		}
		for {
			n := r.read(frame)
			if n == 0 {
				break
			}
			clear(frame[n:]) // the last packet is filled up with silence
			for i, v := range frame {
				pkt[12+i] = enc(v)
			}
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			if err := out.SendOwn(pkt, scratch); err != nil {
				if failures++; failures == 1 {
					log.Warn("media playback: sending", "err", err)
				}
			}
			pkt[1] &^= 0x80
			seq++
			ts += uint32(frameSamples)
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
		if r.err != nil {
			log.Warn("media playback: the file ended early", "err", r.err)
		}
	}
}

// Stop ends the playback and returns once nothing more is sent.
func (p *Player) Stop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// Done is closed when the playback ended (played out or stopped).
func (p *Player) Done() <-chan struct{} { return p.done }
