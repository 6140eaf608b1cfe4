package daemon

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"sipmedia/mediad/internal/config"
)

// running is a Run under test.
type running struct {
	t *testing.T
	Addrs
	before int // goroutines before Run
	cancel context.CancelFunc
	done   chan error
}

// startRun parses args as mediad's command line and runs it with log
// (nil: discarded) and opts until stop; it fails the test unless every
// listener opens.
func startRun(t *testing.T, log *slog.Logger, opts Options, args ...string) *running {
	t.Helper()
	r := &running{t: t, before: runtime.NumGoroutine(), done: make(chan error, 1)}
	cfg, err := config.Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	ready := make(chan Addrs, 1)
	opts.Ready = func(a Addrs) { ready <- a }
	go func() { r.done <- Run(ctx, cfg, log, opts) }()
	select {
	case r.Addrs = <-ready:
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not open its listeners")
	}
	return r
}

// stop ends Run and checks that it returned nil within 10 s.
func (r *running) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

// checkGoroutines fails the test if, within 5 s, the goroutines are not
// back to their number before startRun (call after stop and after closing
// the test's own idle connections).
func (r *running) checkGoroutines() {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > r.before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > r.before {
		r.t.Errorf("goroutines: %d before, %d after", r.before, n)
	}
}
