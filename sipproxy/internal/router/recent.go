package router

import (
	"sync"
	"time"
)

// recent is a map whose entries expire a fixed time after they were put.
// Entries are put in time order, so expiry walks a FIFO from its head
// instead of scanning the map. The FIFO is a ring: at thousands of calls
// a second a slice re-sliced from its head and appended to at its tail
// was reallocated and copied every few hundred milliseconds.
type recent[V any] struct {
	keep time.Duration

	mu   sync.Mutex
	m    map[string]recentEntry[V]
	ring []recentKey // put order, from ring[head], n of them
	head int
	n    int
}

type recentEntry[V any] struct {
	v  V
	at time.Time
}

type recentKey struct {
	k  string
	at time.Time
}

func newRecent[V any](keep time.Duration) *recent[V] {
	return &recent[V]{keep: keep, m: map[string]recentEntry[V]{}}
}

func (r *recent[V]) put(k string, v V) { r.putAt(k, v, time.Now()) }

func (r *recent[V]) putAt(k string, v V, now time.Time) {
	r.mu.Lock()
	r.expire(now)
	r.m[k] = recentEntry[V]{v, now}
	if r.n == len(r.ring) {
		r.resize(max(2*len(r.ring), 64))
	}
	r.ring[(r.head+r.n)%len(r.ring)] = recentKey{k, now}
	r.n++
	r.mu.Unlock()
}

// resize moves the FIFO into a ring of size entries (>= r.n); r.mu is held.
func (r *recent[V]) resize(size int) {
	ring := make([]recentKey, size)
	for i := range r.n {
		ring[i] = r.ring[(r.head+i)%len(r.ring)]
	}
	r.ring, r.head = ring, 0
}

// get returns the entry for k if it has not expired.
func (r *recent[V]) get(k string) (V, bool) {
	r.mu.Lock()
	e, ok := r.m[k]
	r.mu.Unlock()
	if !ok || time.Since(e.at) > r.keep {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (r *recent[V]) remove(k string) {
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}

func (r *recent[V]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// expire drops the entries older than keep; r.mu is held.
func (r *recent[V]) expire(now time.Time) {
	for r.n > 0 {
		q := &r.ring[r.head]
		if now.Sub(q.at) <= r.keep {
			break
		}
		if e, ok := r.m[q.k]; ok && e.at.Equal(q.at) {
			delete(r.m, q.k)
		}
		*q = recentKey{}
		r.head = (r.head + 1) % len(r.ring)
		r.n--
	}
	if len(r.ring) > 1024 && r.n < len(r.ring)/4 {
		r.resize(len(r.ring) / 2) // the rate fell: give memory back
	}
}
