// Package overload tells when the proxy has fallen behind its input, so
// that new calls can be refused cheaply instead of queueing until every
// call fails.
//
// The measure is how long UDP datagrams waited in the socket before they
// were read: the kernel stamps each on arrival (SO_TIMESTAMPNS) and the
// read loop reports the stamp as it reads the datagram. Past its capacity a proxy's
// queue grows without bound; the UAs then retransmit (Timer A/E from
// 500 ms), which adds load, and soon most calls fail. Refusing new
// INVITEs with a 503 while the wait is long keeps the calls already
// admitted, and their BYEs, moving.
package overload

import (
	"log/slog"
	"math"
	"sync/atomic"
	"time"
)

// maxSample caps one measurement, so a wall-clock step between a
// datagram's arrival and its read cannot count as a wait of hours.
const maxSample = 10 * time.Second

// intervals is how many times Limit a wait must stand before it counts.
// The measure is the shortest wait of any datagram read in an interval
// (CoDel's standing queue). A burst queues work that a proxy near its
// capacity drains slowly, but once drained datagrams wait little again;
// only a proxy that cannot keep up has every datagram of an interval
// wait. An average of the last 16 waits, tried first, refused 2% of the
// calls at the start of a load step that the proxy carried without a
// failure when nothing was refused.
const intervals = 4

// noSample marks an interval in which no datagram was read yet.
const noSample = math.MaxInt64

// Detector measures the standing wait of datagrams and says which new
// calls to refuse. Refusing starts when the standing wait passes half of
// Limit, with a share of calls that grows with the wait, up to every new
// call at Limit: the proxy then settles where the calls it admits are the
// calls it can carry, instead of swinging between admitting all and
// refusing all (an all-or-nothing switch refused 19% of calls at 8% over
// capacity). A nil Detector or a zero Limit refuses nothing.
type Detector struct {
	limit    int64 // ns
	interval int64 // ns
	log      *slog.Logger
	origin   time.Time        // monotonic base of the interval clock
	now      func() time.Time // time.Now, or a test's clock

	standing atomic.Int64 // ns: shortest wait in the last whole interval
	winMin   atomic.Int64 // ns: shortest wait so far in this interval
	winEnd   atomic.Int64 // ns since origin: when this interval ends
	active   atomic.Bool  // refusing some calls (for the log and Episodes)
	// debt accumulates the share to refuse per call (in 1/shareUnit);
	// a call is refused each time it passes a whole unit, so the refused
	// share is exact without randomness.
	debt atomic.Int64

	// Shed counts the requests refused.
	Shed atomic.Int64
	// Episodes counts the times refusing started.
	Episodes atomic.Int64
}

const shareUnit = 1 << 10

// New returns a detector with the given limit (0: off).
func New(limit time.Duration, log *slog.Logger) *Detector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit = max(limit, 0)
	d := &Detector{limit: int64(limit), interval: int64(limit) * intervals, log: log, origin: time.Now(), now: time.Now}
	d.winMin.Store(noSample)
	return d
}

// Enabled reports whether waits are worth measuring at all.
func (d *Detector) Enabled() bool { return d != nil && d.limit > 0 }

// Observe records that a datagram that arrived at the given time (the
// kernel's stamp) is being read now.
func (d *Detector) Observe(arrived time.Time) {
	if !d.Enabled() {
		return
	}
	now := d.now()
	w := int64(min(max(now.Sub(arrived), 0), maxSample))
	for {
		m := d.winMin.Load()
		if w >= m || d.winMin.CompareAndSwap(m, w) {
			break
		}
	}
	t := int64(now.Sub(d.origin))
	end := d.winEnd.Load()
	if t < end || !d.winEnd.CompareAndSwap(end, t+d.interval) {
		return
	}
	m := d.winMin.Swap(noSample)
	if t-end > d.interval {
		// Nothing was read for a whole interval: what was read before
		// says nothing about now.
		m = w
	}
	d.standing.Store(m)
	switch active := d.active.Load(); {
	case !active && m > d.limit/2:
		if d.active.CompareAndSwap(false, true) {
			d.Episodes.Add(1)
			d.log.Warn("overloaded: refusing part of the new calls with 503", "queue_wait", time.Duration(m).Round(time.Millisecond), "all_refused_at", time.Duration(d.limit))
		}
	case active && m < d.limit/4:
		if d.active.CompareAndSwap(true, false) {
			d.debt.Store(0)
			d.log.Info("overload over: accepting every new call", "queue_wait", time.Duration(m).Round(time.Millisecond), "refused_so_far", d.Shed.Load())
		}
	}
}

// share is the part of new calls to refuse now, in 1/shareUnit.
func (d *Detector) share() int64 {
	if !d.Enabled() {
		return 0
	}
	half := d.limit / 2
	over := d.standing.Load() - half
	if over <= 0 {
		return 0
	}
	return min(over*shareUnit/half, shareUnit)
}

// Refuse tells whether to refuse this new call; it counts the refusals.
func (d *Detector) Refuse() bool {
	s := d.share()
	if s == 0 {
		return false
	}
	if s < shareUnit {
		if d.debt.Add(s) < shareUnit {
			return false
		}
		d.debt.Add(-shareUnit)
	}
	d.Shed.Add(1)
	return true
}

// Wait is the standing wait: the shortest wait of a datagram in the
// socket during the last whole interval.
func (d *Detector) Wait() time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(d.standing.Load())
}
