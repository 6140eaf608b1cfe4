package overload

import (
	"testing"
	"time"
)

// clocked returns a detector on a test clock and a feed that reads n
// datagrams, each having waited w, spread evenly over span.
func clocked(limit time.Duration) (*Detector, func(w time.Duration, n int, span time.Duration)) {
	d := New(limit, nil)
	now := d.origin
	d.now = func() time.Time { return now }
	feed := func(w time.Duration, n int, span time.Duration) {
		for range n {
			now = now.Add(span / time.Duration(n))
			d.Observe(now.Add(-w))
		}
	}
	return d, feed
}

func refused(d *Detector, calls int) int {
	n := 0
	for range calls {
		if d.Refuse() {
			n++
		}
	}
	return n
}

func TestDetectorShare(t *testing.T) {
	d, feed := clocked(100 * time.Millisecond) // interval 400 ms
	// A burst that queues datagrams far past the limit, as a GC, a
	// preempted thread or a crowd of new calls does, but drains within
	// the interval: nothing refused.
	feed(0, 100, 300*time.Millisecond)
	feed(250*time.Millisecond, 100, 200*time.Millisecond)
	feed(0, 100, 500*time.Millisecond)
	if n := refused(d, 1000); n != 0 || d.Episodes.Load() != 0 {
		t.Fatalf("a burst refused %d calls (standing wait %v)", n, d.Wait())
	}
	// A standing wait half-way between half the limit and the limit:
	// half the calls.
	feed(75*time.Millisecond, 400, time.Second)
	if n := refused(d, 1000); n < 480 || n > 520 {
		t.Fatalf("refused %d of 1000 at a standing wait of %v, want about 500", n, d.Wait())
	}
	if d.Episodes.Load() != 1 {
		t.Fatalf("episodes %d, want 1", d.Episodes.Load())
	}
	// At and past the limit: every call, even if a few datagrams of the
	// interval wait a little less.
	feed(300*time.Millisecond, 100, time.Second)
	feed(150*time.Millisecond, 1, time.Millisecond)
	if n := refused(d, 100); n != 100 {
		t.Fatalf("refused %d of 100 at %v", n, d.Wait())
	}
	// One datagram read at once in each interval ends it: none refused,
	// and the episode ends under a quarter of the limit.
	for range 10 {
		feed(300*time.Millisecond, 30, 300*time.Millisecond)
		feed(0, 1, time.Millisecond)
	}
	if n := refused(d, 100); n != 0 {
		t.Fatalf("refused %d at %v", n, d.Wait())
	}
	feed(75*time.Millisecond, 400, time.Second)
	if d.Episodes.Load() != 2 {
		t.Fatalf("episodes %d, want 2", d.Episodes.Load())
	}
	if got := d.Shed.Load(); got < 580 || got > 620 {
		t.Fatalf("shed counter %d, want the 500 and 100 refused above", got)
	}
	// After a silence longer than an interval the waits read before it
	// count no more.
	feed(0, 1, 10*time.Second)
	if d.Wait() != 0 || refused(d, 10) != 0 {
		t.Fatalf("standing wait %v after a silence", d.Wait())
	}
}

func TestDetectorOffAndBounds(t *testing.T) {
	var nilD *Detector
	nilD.Observe(time.Now().Add(-time.Hour))
	if nilD.Refuse() || nilD.Enabled() || nilD.Wait() != 0 {
		t.Fatal("a nil detector must be off")
	}
	off := New(0, nil)
	off.Observe(time.Now().Add(-time.Hour))
	if off.Refuse() || off.Enabled() {
		t.Fatal("a zero limit must be off")
	}
	// A clock step shows up as absurd waits: capped.
	d, feed := clocked(2 * time.Second)
	feed(240*time.Hour, 10, 10*time.Second)
	if d.Wait() != maxSample {
		t.Fatalf("waits of 240h stand as %v, want the cap %v", d.Wait(), maxSample)
	}
	// A stamp from the future waits 0.
	feed(-time.Second, 10, 10*time.Second)
	if d.Wait() != 0 {
		t.Fatalf("negative waits stand as %v", d.Wait())
	}
}
