package relay

import (
	"sync/atomic"
	"time"
)

// counters is one direction's packet accounting, updated atomically by the
// packet path and read by signalling.
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	errors  atomic.Uint64
}

// Counts is a copy of one direction's counters.
type Counts struct {
	Packets, Bytes, Errors uint64
}

func (c *counters) reset() {
	c.packets.Store(0)
	c.bytes.Store(0)
	c.errors.Store(0)
}

func (c *counters) load() Counts {
	return Counts{Packets: c.packets.Load(), Bytes: c.bytes.Load(), Errors: c.errors.Load()}
}

// TopPayloadType returns the payload type of the most RTP packets
// received among those in known (any when it is empty; the lowest on a
// tie); ok is false when none of them arrived.
func (s *Stream) TopPayloadType(known PTSet) (pt int, ok bool) {
	var most uint32
	for i := range s.byPT {
		if n := s.byPT[i].Load(); n > most && (known.Empty() || known.Has(uint8(i))) {
			pt, most = i, n
		}
	}
	return pt, most > 0
}

// StreamStats is a snapshot of a stream's counters.
type StreamStats struct {
	// In counts packets received on this stream's socket; Errors counts the
	// ones dropped for strict-source, loop protection or failed forwarding.
	In Counts
	// Out counts packets sent from this stream's socket (as another stream's
	// sink); Errors counts failed sends.
	Out Counts
	// LastPacket is when the last packet was received (zero: never).
	LastPacket time.Time
}

// Totals are engine-wide counters, sharded per read loop so the packet path
// never bounces a shared cache line between cores.
type Totals struct {
	shards []totalsShard
}

type totalsShard struct {
	packets, bytes, errors atomic.Uint64
	_                      [40]byte // pad to a cache line
}

// TotalCounts is a snapshot of the engine-wide counters: what rtpengine calls
// "Total relayed packets/bytes/packet errors (userspace)".
type TotalCounts struct {
	Packets, Bytes, Errors uint64
}

func newTotals(n int) *Totals { return &Totals{shards: make([]totalsShard, n)} }

// Load sums the shards.
func (t *Totals) Load() TotalCounts {
	var c TotalCounts
	for i := range t.shards {
		s := &t.shards[i]
		c.Packets += s.packets.Load()
		c.Bytes += s.bytes.Load()
		c.Errors += s.errors.Load()
	}
	return c
}
