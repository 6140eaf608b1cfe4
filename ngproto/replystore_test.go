package ngproto

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// TestReplyCache: replies come back byte for byte across chunk boundaries
// and as copies; a record larger than a chunk is not kept; unknown cookies
// miss; rotation keeps one generation and recycles the dropped one's
// chunks; release leaves nothing.
func TestReplyCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newReplyCache(t0)
	want := map[string][]byte{}
	for i := range 3000 {
		k := "c" + strconv.Itoa(i)
		r := bytes.Repeat([]byte{byte(i)}, 700+i%900)
		if i == 1234 {
			c.cur.put(k, bytes.Repeat([]byte("x"), storeChunk+10))
			continue
		}
		c.cur.put(k, r)
		want[k] = r
	}
	if len(c.cur.chunks) < 3 {
		t.Fatalf("%d chunks for about 4 MB", len(c.cur.chunks))
	}
	for k, r := range want {
		got, ok := c.get(k)
		if !ok || !bytes.Equal(got, r) {
			t.Fatalf("get %s: ok %v, %d bytes, want %d", k, ok, len(got), len(r))
		}
		got[0]++ // a copy: the cache must not change
	}
	if got, _ := c.get("c7"); !bytes.Equal(got, want["c7"]) {
		t.Fatal("a returned reply aliases the cache")
	}
	for _, k := range []string{"missing", "c1234"} {
		if _, ok := c.get(k); ok {
			t.Fatalf("%s found", k)
		}
	}

	// One TTL later the replies are in prev and still found.
	ttl := 30 * time.Second
	n := len(c.cur.chunks)
	c.rotate(t0.Add(ttl), ttl)
	if _, ok := c.get("c7"); !ok || c.len() != len(want) {
		t.Fatalf("after one rotation: c7 %v, len %d", ok, c.len())
	}
	// Another TTL: they are dropped and their chunks serve the new
	// generation.
	c.rotate(t0.Add(2*ttl), ttl)
	if _, ok := c.get("c7"); ok || c.len() != 0 || len(c.free) != n {
		t.Fatalf("after two rotations: c7 found %v, len %d, %d free chunks, want %d", ok, c.len(), len(c.free), n)
	}
	c.cur.put("new", []byte("reply"))
	if len(c.free) != n-1 {
		t.Fatalf("a put took no free chunk (%d free)", len(c.free))
	}
	if got, ok := c.get("new"); !ok || string(got) != "reply" {
		t.Fatalf("recycled chunk: %q %v", got, ok)
	}
	// A gap of two TTLs drops both generations.
	c.rotate(t0.Add(5*ttl), ttl)
	if c.len() != 0 || c.prev != nil {
		t.Fatal("a long gap kept replies")
	}
	c.release()
	if c.len() != 0 || c.free != nil {
		t.Fatal("release kept chunks")
	}
	var none *replyStore
	if _, ok := none.get("c1"); ok || none.len() != 0 {
		t.Fatal("nil generation not empty")
	}
}
