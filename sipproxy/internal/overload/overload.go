// Package overload tells when the proxy has fallen behind its input, so
// that new calls can be refused cheaply instead of queueing until every
// call fails.
//
// The measure is how long UDP datagrams waited in the socket before they
// were read: the kernel stamps each on arrival (SO_TIMESTAMPNS) and the
// read loop reports now minus that stamp. Past its capacity a proxy's
// queue grows without bound; the UAs then retransmit (Timer A/E from
// 500 ms), which adds load, and soon most calls fail. Refusing new
// INVITEs with a 503 while the wait is long keeps the calls already
// admitted, and their BYEs, moving.
package overload

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// maxSample caps one measurement, so a wall-clock step between a
// datagram's arrival and its read cannot hold the average up for long.
const maxSample = 10 * time.Second

// weight is the smoothing: each datagram moves the average 1/weight of
// the way to its own wait. A GC pause or a scheduling hiccup delays a
// burst for milliseconds, far below any sensible limit.
//
// An average this quick also follows a burst that lasts: at the start of
// a load step near capacity it refused 423 of 22000 calls once, which the
// proxy carried with refusing off. CoDel's standing wait (the shortest
// wait in an interval of 4 limits), tried instead, ignored that burst but
// saw real overload seconds late: at 3200-3400 calls/s, past a capacity
// of about 2600, the UAs were retransmitting by then, the proxy's CPU per
// call doubled and 414-1214 calls were left set up in mediad, against 0-19
// with the average (even when the standing wait's refusals were joined
// by the average's from the limit up). Refusing early wins.
const weight = 16

// Detector averages the waits of datagrams and says which new calls to
// refuse. Refusing starts when the average passes half of Limit, with a
// share of calls that grows with the wait, up to every new call at Limit:
// the proxy then settles where the calls it admits are the calls it can
// carry, instead of swinging between admitting all and refusing all (an
// all-or-nothing switch refused 19% of calls at 8% over capacity). A nil
// Detector or a zero Limit refuses nothing.
type Detector struct {
	limit int64 // ns
	log   *slog.Logger

	avg    atomic.Int64 // ns
	active atomic.Bool  // refusing some calls (for the log and Episodes)
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
	return &Detector{limit: int64(max(limit, 0)), log: log}
}

// Enabled reports whether waits are worth measuring at all.
func (d *Detector) Enabled() bool { return d != nil && d.limit > 0 }

// Observe records how long one datagram waited before it was read.
func (d *Detector) Observe(wait time.Duration) {
	if !d.Enabled() {
		return
	}
	w := int64(min(max(wait, 0), maxSample))
	var avg int64
	for {
		old := d.avg.Load()
		avg = old + (w-old)/weight
		if d.avg.CompareAndSwap(old, avg) {
			break
		}
	}
	switch active := d.active.Load(); {
	case !active && avg > d.limit/2:
		if d.active.CompareAndSwap(false, true) {
			d.Episodes.Add(1)
			d.log.Warn("overloaded: refusing part of the new calls with 503", "queue_wait", time.Duration(avg).Round(time.Millisecond), "all_refused_at", time.Duration(d.limit))
		}
	case active && avg < d.limit/4:
		if d.active.CompareAndSwap(true, false) {
			d.debt.Store(0)
			d.log.Info("overload over: accepting every new call", "queue_wait", time.Duration(avg).Round(time.Millisecond), "refused_so_far", d.Shed.Load())
		}
	}
}

// share is the part of new calls to refuse now, in 1/shareUnit.
func (d *Detector) share() int64 {
	if !d.Enabled() {
		return 0
	}
	half := d.limit / 2
	over := d.avg.Load() - half
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

// Wait is the current average wait of a datagram in the socket.
func (d *Detector) Wait() time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(d.avg.Load())
}
