package router

import (
	"sync"
	"testing"
	"time"
)

// waitIdle waits until n workers are parked.
func waitIdle(t *testing.T, w *workers, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.idleCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("idle workers: %d, want %d", w.idleCount(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkersReuse(t *testing.T) {
	var w workers
	for range 5 {
		done := make(chan struct{})
		w.run(func() { close(done) })
		<-done
		waitIdle(t, &w, 1) // one worker, parked again after each call
	}
	// Three handlers at once need three workers; all park afterwards.
	var started, release sync.WaitGroup
	started.Add(3)
	release.Add(1)
	for range 3 {
		w.run(func() { started.Done(); release.Wait() })
	}
	started.Wait()
	if n := w.idleCount(); n != 0 {
		t.Fatalf("idle workers while 3 handlers run: %d, want 0", n)
	}
	release.Done()
	waitIdle(t, &w, 3)
}

func TestWorkersLetGoOfIdle(t *testing.T) {
	var w workers
	var started, release sync.WaitGroup
	started.Add(2)
	release.Add(1)
	for range 2 {
		w.run(func() { started.Done(); release.Wait() })
	}
	started.Wait()
	release.Done()
	waitIdle(t, &w, 2)
	// Age the bottom worker past workerIdle; the next park lets it go.
	w.mu.Lock()
	w.idle[0].since = time.Now().Add(-2 * workerIdle)
	w.mu.Unlock()
	done := make(chan struct{})
	w.run(func() { close(done) })
	<-done
	waitIdle(t, &w, 1)
}
