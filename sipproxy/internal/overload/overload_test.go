package overload

import (
	"testing"
	"time"
)

func TestDetectorShare(t *testing.T) {
	d := New(100*time.Millisecond, nil)
	feed := func(w time.Duration, n int) {
		for range n {
			d.Observe(w)
		}
	}
	refused := func(calls int) int {
		n := 0
		for range calls {
			if d.Refuse() {
				n++
			}
		}
		return n
	}
	// A burst after a pause (what a GC or a preempted thread leaves)
	// refuses nothing.
	feed(0, 100)
	feed(80*time.Millisecond, 10)
	feed(0, 100)
	if n := refused(1000); n != 0 {
		t.Fatalf("a short burst refused %d calls (average %v)", n, d.Wait())
	}
	// Half-way between half the limit and the limit: half the calls.
	feed(75*time.Millisecond, 400)
	if n := refused(1000); n < 480 || n > 520 {
		t.Fatalf("refused %d of 1000 at an average wait of %v, want about 500", n, d.Wait())
	}
	if d.Episodes.Load() != 1 {
		t.Fatalf("episodes %d, want 1", d.Episodes.Load())
	}
	// At and past the limit: every call.
	feed(300*time.Millisecond, 100)
	if n := refused(100); n != 100 {
		t.Fatalf("refused %d of 100 at %v", n, d.Wait())
	}
	// Below half the limit: none, and the episode ends under a quarter.
	feed(30*time.Millisecond, 400)
	if n := refused(100); n != 0 {
		t.Fatalf("refused %d at %v", n, d.Wait())
	}
	feed(0, 400)
	feed(75*time.Millisecond, 400)
	if d.Episodes.Load() != 2 {
		t.Fatalf("episodes %d, want 2", d.Episodes.Load())
	}
	if got := d.Shed.Load(); got < 580 || got > 620 {
		t.Fatalf("shed counter %d, want the 500 and 100 refused above", got)
	}
}

func TestDetectorOffAndBounds(t *testing.T) {
	var nilD *Detector
	nilD.Observe(time.Hour)
	if nilD.Refuse() || nilD.Enabled() || nilD.Wait() != 0 {
		t.Fatal("a nil detector must be off")
	}
	off := New(0, nil)
	off.Observe(time.Hour)
	if off.Refuse() || off.Enabled() {
		t.Fatal("a zero limit must be off")
	}
	// A clock step shows up as one absurd wait: capped, and one sample
	// alone does not reach a limit of seconds.
	d := New(2*time.Second, nil)
	d.Observe(240 * time.Hour)
	if d.Refuse() || d.Wait() > maxSample/weight {
		t.Fatalf("one sample of 240h gave average %v", d.Wait())
	}
	d.Observe(-time.Second)
	if d.Wait() < 0 {
		t.Fatalf("negative wait %v", d.Wait())
	}
}
