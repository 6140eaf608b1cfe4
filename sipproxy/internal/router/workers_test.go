package router

import (
	"runtime"
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

// runBlocked starts n handlers that wait, once all have started, until
// the returned release is called.
func runBlocked(w *workers, n int) (release func()) {
	var started, hold sync.WaitGroup
	started.Add(n)
	hold.Add(1)
	for range n {
		w.run(func() { started.Done(); hold.Wait() })
	}
	started.Wait()
	return hold.Done
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
	release := runBlocked(&w, 3)
	if n := w.idleCount(); n != 0 {
		t.Fatalf("idle workers while 3 handlers run: %d, want 0", n)
	}
	release()
	waitIdle(t, &w, 3)
}

func TestWorkersLetGoOfIdle(t *testing.T) {
	var w workers
	runBlocked(&w, 2)()
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

// TestWorkersStop: stop lets the idle workers go, a running one ends
// after its handler instead of parking, and handlers still run after it.
func TestWorkersStop(t *testing.T) {
	var w workers
	runBlocked(&w, 2)()
	waitIdle(t, &w, 2)
	release := runBlocked(&w, 1) // takes one of the two
	before := runtime.NumGoroutine()
	w.stop()
	if n := w.idleCount(); n != 0 {
		t.Fatalf("idle workers after stop: %d", n)
	}
	release()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before-2 { // the idle one and the running one end
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, want at most %d", runtime.NumGoroutine(), before-2)
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	w.run(func() { close(done) })
	<-done
	if n := w.idleCount(); n != 0 {
		t.Fatalf("a worker parked after stop: %d idle", n)
	}
}
