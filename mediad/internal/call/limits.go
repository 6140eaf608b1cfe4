package call

import (
	"sync"
	"time"
)

// Limits are the registry settings an operator may change while the
// daemon runs (rtpengine-ctl's "set maxsessions", "set timeout", ...):
// read where used, replaced whole.
type Limits struct {
	// MaxSessions is rtpengine's max-sessions: -1 no limit, 0 every new
	// call refused (a node drained for maintenance), n at most n calls.
	MaxSessions int
	// MaxLoad, MaxCPU (percent) and MaxBandwidth (bytes per second)
	// refuse new calls while reached; 0: no limit.
	MaxLoad, MaxCPU float64
	MaxBandwidth    int64
	// The media, silent, offer and final timeouts and the default delete
	// delay (see Config).
	Timeout, SilentTimeout, OfferTimeout, FinalTimeout, DeleteDelay time.Duration
}

// limitsOf is a configuration's initial limits.
func limitsOf(cfg Config) Limits {
	l := Limits{MaxSessions: -1, MaxLoad: cfg.MaxLoad, MaxCPU: cfg.MaxCPU, MaxBandwidth: cfg.MaxBandwidth,
		Timeout: cfg.Timeout, SilentTimeout: cfg.SilentTimeout, OfferTimeout: cfg.OfferTimeout,
		FinalTimeout: cfg.FinalTimeout, DeleteDelay: cfg.DeleteDelay}
	switch {
	case cfg.RefuseNew:
		l.MaxSessions = 0
	case cfg.MaxSessions > 0:
		l.MaxSessions = cfg.MaxSessions
	}
	return l
}

// limitsBox holds the current Limits.
type limitsBox struct {
	mu sync.RWMutex
	l  Limits
}

// Limits returns the current limits.
func (r *Registry) Limits() Limits {
	r.limits.mu.RLock()
	defer r.limits.mu.RUnlock()
	return r.limits.l
}

// SetLimits changes the limits; the next call, timer round or delete
// applies them.
func (r *Registry) SetLimits(change func(*Limits)) {
	r.limits.mu.Lock()
	change(&r.limits.l)
	r.limits.mu.Unlock()
}
