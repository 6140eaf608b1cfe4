package genstore

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestStore: records come back byte for byte across chunk boundaries and
// as copies; a record larger than a chunk is not kept; unknown keys miss;
// Delete forgets one key only; rotation keeps one generation and recycles
// the dropped one's chunks; Close leaves nothing.
func TestStore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ttl := 30 * time.Second
	s := New(ttl, t0)
	want := map[string][]byte{}
	for i := range 3000 {
		k := "c" + strconv.Itoa(i)
		r := bytes.Repeat([]byte{byte(i)}, 700+i%900)
		if i == 1234 {
			s.Put(t0, k, bytes.Repeat([]byte("x"), ChunkSize+10))
			continue
		}
		if s.Put(t0, k, r) {
			s.Refill()
		}
		want[k] = r
	}
	if n := len(s.g.cur.chunks); n < 3 {
		t.Fatalf("%d chunks for about 4 MB", n)
	}
	if s.g.spare.b == nil {
		t.Fatal("no spare chunk after Refill")
	}
	for k, r := range want {
		got, ok := s.Get(t0, k)
		if !ok || !bytes.Equal(got, r) {
			t.Fatalf("get %s: ok %v, %d bytes, want %d", k, ok, len(got), len(r))
		}
		got[0]++ // a copy: the store must not change
	}
	if got, _ := s.Get(t0, "c7"); !bytes.Equal(got, want["c7"]) {
		t.Fatal("a returned record aliases the store")
	}
	for _, k := range []string{"missing", "c1234"} {
		if _, ok := s.Get(t0, k); ok {
			t.Fatalf("%s found", k)
		}
	}
	s.Delete("c8")
	s.Delete("never put")
	if _, ok := s.Get(t0, "c8"); ok || s.Len() != len(want)-1 {
		t.Fatalf("after Delete: c8 found %v, len %d", ok, s.Len())
	}
	delete(want, "c8")

	// One TTL later the records are in prev and still found.
	n := len(s.g.cur.chunks)
	if _, ok := s.Get(t0.Add(ttl), "c7"); !ok || s.Len() != len(want) {
		t.Fatalf("after one rotation: c7 %v, len %d", ok, s.Len())
	}
	// Another TTL: they are dropped and their chunks serve the new
	// generation.
	if _, ok := s.Get(t0.Add(2*ttl), "c7"); ok || s.Len() != 0 || len(s.g.free) != n {
		t.Fatalf("after two rotations: c7 found %v, len %d, %d free chunks, want %d", ok, s.Len(), len(s.g.free), n)
	}
	s.Put(t0.Add(2*ttl), "new", []byte("rec"))
	if len(s.g.free) != n-1 {
		t.Fatalf("a put took no free chunk (%d free)", len(s.g.free))
	}
	if got, ok := s.Get(t0.Add(2*ttl), "new"); !ok || string(got) != "rec" {
		t.Fatalf("recycled chunk: %q %v", got, ok)
	}
	// A gap of two TTLs drops both generations.
	if s.Get(t0.Add(5*ttl), "new"); s.Len() != 0 || s.g.prev != nil {
		t.Fatal("a long gap kept records")
	}
	s.Close()
	if s.Len() != 0 || s.g.free != nil {
		t.Fatal("Close kept chunks")
	}
	// A closed store keeps nothing and does not fail.
	s.Put(t0, "k", []byte("v"))
	s.Refill()
	if _, ok := s.Get(t0, "k"); ok || s.g.spare.b != nil {
		t.Fatal("a closed store kept a record or a spare")
	}
}

// TestStoreConcurrent: writers, readers and deleters at once (for -race),
// every record read back whole.
func TestStoreConcurrent(t *testing.T) {
	now := time.Now()
	s := New(time.Minute, now)
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := strconv.Itoa(w) + "/" + strconv.Itoa(i)
				if s.Put(now, k, []byte(k+k)) {
					s.Refill()
				}
				if got, ok := s.Get(now, k); !ok || string(got) != k+k {
					t.Errorf("%s: %q %v", k, got, ok)
					return
				}
				if i%3 == 0 {
					s.Delete(k)
				}
			}
		})
	}
	wg.Wait()
	if want := 4 * (2000 - 667); s.Len() != want {
		t.Fatalf("len %d, want %d", s.Len(), want)
	}
}
