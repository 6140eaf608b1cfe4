package router

import (
	"strconv"
	"testing"
	"time"
)

// The FIFO wraps around its ring at a steady rate without growing, shrinks
// when the rate falls, and expiry removes the oldest entries first.
func TestRecentRing(t *testing.T) {
	const keep = 10 * time.Second
	r := newRecent[int](keep)
	t0 := time.Now()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	// One entry a millisecond, each kept 10 s: about 10000 live entries.
	for i := range 20000 {
		r.putAt(strconv.Itoa(i), i, at(i))
	}
	r.mu.Lock()
	size := len(r.ring)
	r.mu.Unlock()
	for i := 20000; i < 50000; i++ {
		r.putAt(strconv.Itoa(i), i, at(i))
	}
	r.mu.Lock()
	grown, oldest := len(r.ring) != size, r.ring[r.head].k
	r.mu.Unlock()
	if got := r.len(); got != 10001 {
		t.Fatalf("len = %d, want 10001 live entries", got)
	}
	if grown {
		t.Errorf("ring grew at a steady rate")
	}
	if oldest != "39999" {
		t.Errorf("oldest entry %q, want 39999", oldest)
	}
	if _, ok := r.get("39998"); ok {
		t.Errorf("expired entry still found")
	}
	// The rate falls to nothing: everything expires, memory goes back.
	r.mu.Lock()
	r.expire(at(50000).Add(keep))
	shrunk := len(r.ring) < size
	r.mu.Unlock()
	if r.len() != 0 || !shrunk {
		t.Errorf("after expiring everything: len %d, ring shrunk %v", r.len(), shrunk)
	}
	// A key put again keeps its newer value when its older FIFO entry
	// expires.
	r.putAt("k", 1, at(60000))
	r.putAt("k", 2, at(65000))
	r.mu.Lock()
	r.expire(at(60000).Add(keep + time.Millisecond))
	r.mu.Unlock()
	if e, ok := r.m["k"]; !ok || e.v != 2 {
		t.Errorf("re-put key lost: %v %v", e, ok)
	}
}
