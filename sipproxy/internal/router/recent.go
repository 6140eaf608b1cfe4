package router

import (
	"sync"
	"time"
)

// recent is a map whose entries expire a fixed time after they were put.
// Entries are put in time order, so expiry walks a FIFO from its head
// instead of scanning the map.
type recent[V any] struct {
	keep time.Duration

	mu    sync.Mutex
	m     map[string]recentEntry[V]
	queue []recentKey // put order; head at queue[0]
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

func (r *recent[V]) put(k string, v V) {
	now := time.Now()
	r.mu.Lock()
	r.expire(now)
	r.m[k] = recentEntry[V]{v, now}
	r.queue = append(r.queue, recentKey{k, now})
	r.mu.Unlock()
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
	n := 0
	for n < len(r.queue) && now.Sub(r.queue[n].at) > r.keep {
		q := r.queue[n]
		if e, ok := r.m[q.k]; ok && e.at.Equal(q.at) {
			delete(r.m, q.k)
		}
		r.queue[n] = recentKey{}
		n++
	}
	if n > 0 {
		r.queue = r.queue[n:]
		if cap(r.queue) > 1024 && len(r.queue) < cap(r.queue)/4 {
			r.queue = append([]recentKey(nil), r.queue...)
		}
	}
}
