package ngproto

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"testing"
)

// TestReplyStore: replies come back byte for byte across chunk
// boundaries, one larger than a chunk included; unknown cookies miss; a
// returned reply cannot be appended into the next record.
func TestReplyStore(t *testing.T) {
	s := newReplyStore(maphash.MakeSeed())
	want := map[string][]byte{}
	for i := range 3000 {
		c := "c" + strconv.Itoa(i)
		r := bytes.Repeat([]byte{byte(i)}, 700+i%900)
		if i == 1234 {
			r = bytes.Repeat([]byte("x"), storeChunk+10)
		}
		got := s.put(c, r)
		if !bytes.Equal(got, r) {
			t.Fatalf("put %s returned other bytes", c)
		}
		want[c] = r
	}
	if len(s.chunks) < 3 {
		t.Fatalf("%d chunks for about 4 MB", len(s.chunks))
	}
	for c, r := range want {
		got, ok := s.get(c)
		if !ok || !bytes.Equal(got, r) {
			t.Fatalf("get %s: ok %v, %d bytes, want %d", c, ok, len(got), len(r))
		}
		if cap(got) != len(got) {
			t.Fatalf("get %s: capacity %d beyond the reply", c, cap(got))
		}
	}
	if _, ok := s.get("missing"); ok {
		t.Fatal("unknown cookie found")
	}
	var none *replyStore
	if _, ok := none.get("c1"); ok || none.len() != 0 {
		t.Fatal("nil generation not empty")
	}
}
