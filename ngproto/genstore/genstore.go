// Package genstore holds byte records by string key for a while, outside
// the Go heap: the NG server's reply cache and what the SIP proxy keeps of
// finished transactions. Records live in two generations rotated every
// TTL (rtpengine's cookie_cache.c), so one is kept TTL..2*TTL.
//
// Why not a map of objects: at full load a generation holds hundreds of
// thousands of records, and as objects (strings, slices, closures) they
// made every garbage collection mark them all: mark phases of 50-220 ms
// every second at 16 NG clients, 12% of the SIP proxy's CPU at 2000
// calls/s. Here a record is copied into a 1 MiB chunk and indexed by a
// 64-bit hash of its key, so nothing in the store holds a pointer.
//
// The chunks are mapped outside the Go heap and recycled: a dropped
// generation's chunks serve the next one. On the heap, the store's growth
// raised the collector's target with it, so every short-lived allocation
// landed on fresh pages (15-25% of the NG server's cycle rate at 16
// clients). Nothing hands out memory of a chunk: Get returns copies, so a
// chunk can be reused or unmapped at any time.
package genstore

import (
	"encoding/binary"
	"hash/maphash"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ChunkSize is the size of a chunk; a record (with its key) larger than
// this is not kept.
const ChunkSize = 1 << 20

// Store is safe for concurrent use.
type Store struct {
	g *gens
}

// gens is the state a Store's cleanup needs (it must not reach the Store).
type gens struct {
	ttl  time.Duration
	seed maphash.Seed

	mu        sync.Mutex
	cur, prev *generation
	rotated   time.Time
	free      []chunk // a dropped generation's chunks, for reuse
	// spare is a chunk mapped in advance by Refill, outside mu: mapping
	// one takes a while, and under a lock it stalled every other user.
	spare     chunk
	wantSpare bool
}

// chunk is one block of a generation; mapped says it came from mmap (and
// is unmapped when no longer needed) rather than the heap (the fallback).
type chunk struct {
	b      []byte
	mapped bool
}

// New returns a store keeping records ttl..2*ttl, its first generation
// starting at now. Its chunks are unmapped once the Store is unreachable
// (or by Close).
func New(ttl time.Duration, now time.Time) *Store {
	g := &gens{ttl: ttl, seed: maphash.MakeSeed(), rotated: now}
	g.cur = newGeneration()
	s := &Store{g: g}
	runtime.AddCleanup(s, (*gens).release, g)
	return s
}

// Put keeps a copy of rec under key (replacing one put earlier in the
// same generation) and reports whether the store wants a chunk mapped in
// advance: the caller then calls Refill, outside its own locks.
func (s *Store) Put(now time.Time, key string, rec []byte) (refill bool) {
	g := s.g
	g.mu.Lock()
	g.rotate(now)
	g.cur.put(g, key, rec)
	refill, g.wantSpare = g.wantSpare, false
	g.mu.Unlock()
	return refill
}

// Refill maps the chunk that a Put asked for.
func (s *Store) Refill() {
	g := s.g
	ch := mapChunk()
	g.mu.Lock()
	if g.spare.b == nil && g.cur != nil {
		g.spare, ch = ch, chunk{}
	}
	g.mu.Unlock()
	ch.unmap() // a no-op unless another Refill installed a spare first
}

// Get returns a copy of the record kept under key.
func (s *Store) Get(now time.Time, key string) ([]byte, bool) {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rotate(now)
	if r, ok := g.cur.get(g.seed, key); ok {
		return r, true
	}
	return g.prev.get(g.seed, key)
}

// Delete forgets the record kept under key (its bytes stay in the chunk
// until the generation is dropped).
func (s *Store) Delete(key string) {
	g := s.g
	g.mu.Lock()
	g.cur.delete(g.seed, key)
	g.prev.delete(g.seed, key)
	g.mu.Unlock()
}

// Len is the number of records kept (both generations).
func (s *Store) Len() int {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur.len() + g.prev.len()
}

// Close unmaps every chunk now; the store is empty and unusable after.
func (s *Store) Close() { s.g.release() }

// rotate starts a new generation when the current one is ttl old; after a
// gap of 2*ttl both are dropped. g.mu is held.
func (g *gens) rotate(now time.Time) {
	el := now.Sub(g.rotated)
	if el < g.ttl || g.cur == nil {
		return
	}
	// Free chunks not reused during a whole generation are surplus.
	unmapAll(g.free)
	g.free = g.free[:0]
	if g.prev != nil {
		g.free = append(g.free, g.prev.chunks...)
	}
	g.prev = g.cur
	if el >= 2*g.ttl {
		g.free = append(g.free, g.cur.chunks...)
		g.prev = nil
	}
	g.cur, g.rotated = newGeneration(), now
}

// newChunk returns a recycled chunk, the spare or a new one. g.mu is held.
func (g *gens) newChunk() chunk {
	if n := len(g.free); n > 0 {
		ch := g.free[n-1]
		g.free = g.free[:n-1]
		ch.b = ch.b[:0]
		return ch
	}
	g.wantSpare = true
	if ch := g.spare; ch.b != nil {
		g.spare = chunk{}
		return ch
	}
	return mapChunk()
}

// mapChunk maps a chunk, with its pages filled in one system call
// (MAP_POPULATE) instead of a page fault each; the heap is the fallback.
func mapChunk() chunk {
	b, err := unix.Mmap(-1, 0, ChunkSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return chunk{b: make([]byte, 0, ChunkSize)}
	}
	return chunk{b: b[:0], mapped: true}
}

// unmap gives a mapped chunk back to the system (a heap chunk, or none,
// is left to the collector).
func (ch chunk) unmap() {
	if ch.mapped {
		_ = unix.Munmap(ch.b[:cap(ch.b)])
	}
}

func unmapAll(cs []chunk) {
	for _, ch := range cs {
		ch.unmap()
	}
}

// release unmaps every chunk and empties the store.
func (g *gens) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	unmapAll(g.free)
	g.spare.unmap()
	if g.prev != nil {
		unmapAll(g.prev.chunks)
	}
	if g.cur != nil {
		unmapAll(g.cur.chunks)
	}
	g.free, g.prev, g.cur, g.spare = nil, nil, nil, chunk{}
}

// generation is one generation of the store.
type generation struct {
	index  map[uint64]uint64 // key hash -> chunk number << 32 | offset
	chunks []chunk
}

func newGeneration() *generation {
	return &generation{index: make(map[uint64]uint64)}
}

func (s *generation) len() int {
	if s == nil {
		return 0
	}
	return len(s.index)
}

// put stores a copy of rec under key. A record is the key's and rec's
// lengths (4 bytes each) and their bytes.
func (s *generation) put(g *gens, key string, rec []byte) {
	if s == nil {
		return // closed
	}
	need := 8 + len(key) + len(rec)
	if need > ChunkSize {
		return
	}
	n := len(s.chunks) - 1
	if n < 0 || cap(s.chunks[n].b)-len(s.chunks[n].b) < need {
		s.chunks = append(s.chunks, g.newChunk())
		n++
	}
	c := s.chunks[n].b
	off := len(c)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(key)))
	c = append(c, key...)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(rec)))
	c = append(c, rec...)
	s.chunks[n].b = c
	// A 64-bit hash collision replaces the older entry; get checks the
	// key, so it can only cost a record, never return a wrong one.
	s.index[maphash.String(g.seed, key)] = uint64(n)<<32 | uint64(off)
}

// find returns the record stored under key (memory of a chunk) and its
// key's hash.
func (s *generation) find(seed maphash.Seed, key string) (rec []byte, h uint64, ok bool) {
	if s == nil {
		return nil, 0, false
	}
	h = maphash.String(seed, key)
	loc, ok := s.index[h]
	if !ok {
		return nil, 0, false
	}
	c := s.chunks[loc>>32].b
	off := int(uint32(loc))
	kl := int(binary.LittleEndian.Uint32(c[off:]))
	if string(c[off+4:off+4+kl]) != key {
		return nil, 0, false
	}
	off += 4 + kl
	rl := int(binary.LittleEndian.Uint32(c[off:]))
	off += 4
	return c[off : off+rl], h, true
}

// get returns a copy of the record stored under key.
func (s *generation) get(seed maphash.Seed, key string) ([]byte, bool) {
	rec, _, ok := s.find(seed, key)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), rec...), true
}

func (s *generation) delete(seed maphash.Seed, key string) {
	if _, h, ok := s.find(seed, key); ok {
		delete(s.index, h)
	}
}
