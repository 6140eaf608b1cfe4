package ngproto

import (
	"encoding/binary"
	"hash/maphash"
)

// replyStore is one generation of the reply cache. Replies are copied into
// large byte chunks and indexed by a hash of their cookie, so an entry
// holds no pointer: at full load a generation has a few hundred thousand
// replies, and as individual objects they made every garbage collection
// cycle mark them all (mark phases of 50-220 ms every second at 16 NG
// clients, the tail of the latency). Chunks are never reused: a generation
// is dropped whole, and a reply handed out keeps its chunk alive.
type replyStore struct {
	seed   maphash.Seed
	index  map[uint64]uint64 // cookie hash -> chunk number << 32 | offset
	chunks [][]byte
}

const storeChunk = 1 << 20

func newReplyStore(seed maphash.Seed) *replyStore {
	return &replyStore{seed: seed, index: make(map[uint64]uint64)}
}

func (s *replyStore) len() int {
	if s == nil {
		return 0
	}
	return len(s.index)
}

// put stores reply under cookie and returns the stored copy. A record is
// the cookie's and the reply's lengths (4 bytes each) and their bytes.
func (s *replyStore) put(cookie string, reply []byte) []byte {
	need := 8 + len(cookie) + len(reply)
	n := len(s.chunks) - 1
	if n < 0 || cap(s.chunks[n])-len(s.chunks[n]) < need {
		s.chunks = append(s.chunks, make([]byte, 0, max(storeChunk, need)))
		n++
	}
	c := s.chunks[n]
	off := len(c)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(cookie)))
	c = append(c, cookie...)
	c = binary.LittleEndian.AppendUint32(c, uint32(len(reply)))
	c = append(c, reply...)
	s.chunks[n] = c
	// A 64-bit hash collision replaces the older entry; get checks the
	// cookie, so it can only cost a cached reply, never return a wrong one.
	s.index[maphash.String(s.seed, cookie)] = uint64(n)<<32 | uint64(off)
	start := off + 8 + len(cookie)
	return c[start : start+len(reply) : start+len(reply)]
}

// get returns the reply stored under cookie.
func (s *replyStore) get(cookie string) ([]byte, bool) {
	if s == nil {
		return nil, false
	}
	loc, ok := s.index[maphash.String(s.seed, cookie)]
	if !ok {
		return nil, false
	}
	c := s.chunks[loc>>32]
	off := int(uint32(loc))
	kl := int(binary.LittleEndian.Uint32(c[off:]))
	if string(c[off+4:off+4+kl]) != cookie {
		return nil, false
	}
	off += 4 + kl
	rl := int(binary.LittleEndian.Uint32(c[off:]))
	off += 4
	return c[off : off+rl : off+rl], true
}
