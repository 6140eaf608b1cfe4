package ngproto

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"golang.org/x/sys/unix"
)

// replyCache holds finished replies by cookie in two generations, cur and
// prev, rotated every TTL (rtpengine's cookie_cache.c): a reply is kept
// TTL..2*TTL. Guarded by Server.mu.
//
// Replies are copied into 1 MiB chunks and indexed by a hash of their
// cookie, so an entry holds no pointer: at full load a generation has a few
// hundred thousand replies, and as individual objects they made every
// garbage collection mark them all (mark phases of 50-220 ms every second
// at 16 NG clients).
//
// The chunks are mapped outside the Go heap and recycled: a dropped
// generation's chunks serve the next one. On the Go heap, the cache's
// growth (about 25 MB/s at 5000 offer/answer/delete cycles a second) raised
// the collector's target with it, so every short-lived allocation of the
// request path landed on fresh pages: at 16 NG clients that cost 15-25% of
// the cycle rate. Nothing hands out memory of a chunk: get and the waiters
// of a flight receive copies, so a chunk can be reused or unmapped at any
// time.
type replyCache struct {
	seed      maphash.Seed
	cur, prev *replyStore
	rotated   time.Time
	free      []chunk // a dropped generation's chunks, for reuse
	// spare is a chunk mapped in advance, outside Server.mu (see
	// Server.finish): mapping one takes a while, and under the lock it
	// stalled every other request.
	spare     chunk
	wantSpare bool
}

// chunk is one block of a generation; mapped says it came from mmap (and
// is unmapped when no longer needed) rather than the heap (the fallback).
type chunk struct {
	b      []byte
	mapped bool
}

const storeChunk = 1 << 20

func newReplyCache(now time.Time) *replyCache {
	c := &replyCache{seed: maphash.MakeSeed(), rotated: now}
	c.cur = newReplyStore(c)
	return c
}

// rotate starts a new generation when the current one is ttl old; after a
// gap of 2*ttl both are dropped.
func (c *replyCache) rotate(now time.Time, ttl time.Duration) {
	el := now.Sub(c.rotated)
	if el < ttl {
		return
	}
	// Free chunks not reused during a whole generation are surplus.
	unmapAll(c.free)
	c.free = c.free[:0]
	if c.prev != nil {
		c.free = append(c.free, c.prev.chunks...)
	}
	c.prev = c.cur
	if el >= 2*ttl {
		c.free = append(c.free, c.cur.chunks...)
		c.prev = nil
	}
	c.cur, c.rotated = newReplyStore(c), now
}

// newChunk returns a recycled chunk, the spare or a new one.
func (c *replyCache) newChunk() chunk {
	if n := len(c.free); n > 0 {
		ch := c.free[n-1]
		c.free = c.free[:n-1]
		ch.b = ch.b[:0]
		return ch
	}
	c.wantSpare = true
	if ch := c.spare; ch.b != nil {
		c.spare = chunk{}
		return ch
	}
	return mapChunk()
}

// mapChunk maps a chunk, with its pages filled in one system call
// (MAP_POPULATE) instead of a page fault each; the heap is the fallback.
func mapChunk() chunk {
	b, err := unix.Mmap(-1, 0, storeChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return chunk{b: make([]byte, 0, storeChunk)}
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

// release unmaps every chunk: the cleanup of a Server nobody references.
func (c *replyCache) release() {
	unmapAll(c.free)
	c.spare.unmap()
	if c.prev != nil {
		unmapAll(c.prev.chunks)
	}
	unmapAll(c.cur.chunks)
	c.free, c.prev, c.cur = nil, nil, nil
}

func (c *replyCache) len() int {
	if c == nil {
		return 0
	}
	return c.cur.len() + c.prev.len()
}

// get returns a copy of the reply cached under cookie.
func (c *replyCache) get(cookie string) ([]byte, bool) {
	if r, ok := c.cur.get(cookie); ok {
		return r, true
	}
	return c.prev.get(cookie)
}

// replyStore is one generation of the cache.
type replyStore struct {
	cache  *replyCache
	index  map[uint64]uint64 // cookie hash -> chunk number << 32 | offset
	chunks []chunk
}

func newReplyStore(c *replyCache) *replyStore {
	return &replyStore{cache: c, index: make(map[uint64]uint64)}
}

func (s *replyStore) len() int {
	if s == nil {
		return 0
	}
	return len(s.index)
}

// put stores a copy of reply under cookie. A record is the cookie's and the
// reply's lengths (4 bytes each) and their bytes. A record larger than a
// chunk (never an NG datagram) is not cached.
func (s *replyStore) put(cookie string, reply []byte) {
	need := 8 + len(cookie) + len(reply)
	if need > storeChunk {
		return
	}
	n := len(s.chunks) - 1
	if n < 0 || cap(s.chunks[n].b)-len(s.chunks[n].b) < need {
		s.chunks = append(s.chunks, s.cache.newChunk())
		n++
	}
	c := s.chunks[n].b
	off := len(c)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(cookie)))
	c = append(c, cookie...)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(reply)))
	c = append(c, reply...)
	s.chunks[n].b = c
	// A 64-bit hash collision replaces the older entry; get checks the
	// cookie, so it can only cost a cached reply, never return a wrong one.
	s.index[maphash.String(s.cache.seed, cookie)] = uint64(n)<<32 | uint64(off)
}

// get returns a copy of the reply stored under cookie.
func (s *replyStore) get(cookie string) ([]byte, bool) {
	if s == nil {
		return nil, false
	}
	loc, ok := s.index[maphash.String(s.cache.seed, cookie)]
	if !ok {
		return nil, false
	}
	c := s.chunks[loc>>32].b
	off := int(uint32(loc))
	kl := int(binary.LittleEndian.Uint32(c[off:]))
	if string(c[off+4:off+4+kl]) != cookie {
		return nil, false
	}
	off += 4 + kl
	rl := int(binary.LittleEndian.Uint32(c[off:]))
	off += 4
	return append([]byte(nil), c[off:off+rl]...), true
}
