package router

import (
	"slices"
	"sync"
	"time"
)

// workers runs the handlers of UDP server transactions on goroutines that
// outlive them. A new goroutine per transaction starts with a small stack
// that grows, by copying, on the way to the relay's deepest calls (sipgo's
// request building, the NG encoder): 2-3% of the proxy's CPU at 2200
// calls/s. A worker keeps its grown stack for the next handler.
//
// Idle workers wait LIFO, so the ones in use stay few and warm; those idle
// longer than workerIdle are let go when another worker parks, so a
// burst's workers do not outlast the next calls (with no calls at all
// they stay parked, their stacks shrunk by the GC). The zero value is
// ready.
type workers struct {
	mu      sync.Mutex
	idle    []*worker // the most recently parked last
	stopped bool      // stop was called: workers end instead of parking
}

type worker struct {
	next  chan func() // nil: exit
	since time.Time   // parked at
}

// workerIdle is how long a worker may wait unused before it is let go.
const workerIdle = 10 * time.Second

// run calls f on an idle worker, or on a new one.
func (w *workers) run(f func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		wk.next <- f // buffered: never blocks
		return
	}
	w.mu.Unlock()
	wk := &worker{next: make(chan func(), 1)}
	go wk.loop(w, f)
}

func (wk *worker) loop(w *workers, f func()) {
	for f != nil {
		f()
		if !w.park(wk) {
			return
		}
		f = <-wk.next
	}
}

// park puts wk on the idle stack and lets go of the workers that have
// waited longer than workerIdle (the bottom of the stack); false: stopped,
// wk ends.
func (w *workers) park(wk *worker) bool {
	now := time.Now()
	wk.since = now
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return false
	}
	old := 0
	for old < len(w.idle) && now.Sub(w.idle[old].since) > workerIdle {
		old++
	}
	gone := slices.Clone(w.idle[:old])
	n := copy(w.idle, w.idle[old:])
	clear(w.idle[n:])
	w.idle = append(w.idle[:n], wk)
	w.mu.Unlock()
	for _, g := range gone {
		g.next <- nil
	}
	return true
}

// stop lets every idle worker go; handlers still running end with theirs,
// and a handler run afterwards gets a worker of its own.
func (w *workers) stop() {
	w.mu.Lock()
	idle := w.idle
	w.idle, w.stopped = nil, true
	w.mu.Unlock()
	for _, wk := range idle {
		wk.next <- nil
	}
}

// idleCount is the number of parked workers (tests).
func (w *workers) idleCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.idle)
}
