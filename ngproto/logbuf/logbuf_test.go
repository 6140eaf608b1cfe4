package logbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWriters: whole writes from several goroutines all arrive,
// none torn, while another reads (-race checks the locking).
func TestConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.Write([]byte("line\n"))
			}
		}()
	}
	go func() { _ = b.String() }()
	wg.Wait()
	out := b.String()
	if n := strings.Count(out, "line\n"); n != 400 || len(out) != 400*len("line\n") {
		t.Fatalf("%d whole lines in %d bytes, want 400 in %d", n, len(out), 400*len("line\n"))
	}
}
