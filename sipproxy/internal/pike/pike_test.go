package pike

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

func newGuard(t *testing.T, s Settings, now *time.Time) *Guard {
	t.Helper()
	g := New(s, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	g.now = func() time.Time { return *now }
	return g
}

// TestBan: the request beyond the density within one interval starts a
// ban; the source's requests are dropped until it ends, then counted
// afresh; other sources, the proxy's own address and trusted networks
// are not affected.
func TestBan(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGuard(t, Settings{Density: 4, Interval: 2 * time.Second, Ban: 10 * time.Second,
		Trusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, &now)
	allowed := func(src string, n int) int {
		ok := 0
		for i := 0; i < n; i++ {
			if g.Allow(src) {
				ok++
			}
		}
		return ok
	}
	if got := allowed("203.0.113.5:5060", 6); got != 4 {
		t.Fatalf("flood: %d of 6 allowed, want 4", got)
	}
	if got := allowed("203.0.113.6:5060", 4); got != 4 {
		t.Fatalf("another source: %d of 4 allowed", got)
	}
	for _, src := range []string{"192.0.2.1:5060", "[::ffff:192.0.2.1]:5060", "198.51.100.7:5060", "not an address"} {
		if got := allowed(src, 50); got != 50 {
			t.Errorf("%s: %d of 50 allowed, want all", src, got)
		}
	}
	now = now.Add(9 * time.Second)
	if g.Allow("203.0.113.5:1234") {
		t.Fatal("allowed during the ban (another port of the same address)")
	}
	now = now.Add(time.Second)
	if got := allowed("203.0.113.5:5060", 4); got != 4 {
		t.Fatalf("after the ban: %d of 4 allowed", got)
	}
	if g.Banned.Load() != 1 || g.Dropped.Load() != 3 {
		t.Fatalf("banned %d, dropped %d; want 1, 3", g.Banned.Load(), g.Dropped.Load())
	}
}

// TestWindow: the density is per interval; a steady rate under it passes
// for ever.
func TestWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGuard(t, Settings{Density: 10, Interval: time.Second, Ban: time.Minute}, &now)
	for i := 0; i < 1000; i++ {
		if !g.Allow("203.0.113.9:5060") {
			t.Fatalf("request %d of a steady 9 per second dropped", i)
		}
		now = now.Add(time.Second / 9)
	}
}

// TestSweep: quiet sources are forgotten, banned ones kept.
func TestSweep(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGuard(t, Settings{Density: 1, Interval: time.Second, Ban: time.Minute}, &now)
	g.Allow("203.0.113.1:5060")
	g.Allow("203.0.113.2:5060")
	g.Allow("203.0.113.2:5060") // banned
	now = now.Add(2 * time.Second)
	g.sweep(now)
	if g.Sources() != 1 {
		t.Fatalf("%d sources kept, want the banned one", g.Sources())
	}
}

func TestSettings(t *testing.T) {
	var p prefixes
	for _, v := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"} {
		if err := p.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if p.String() != "10.0.0.0/8,192.0.2.7/32,2001:db8::/32" {
		t.Fatalf("trusted %s", p.String())
	}
	if err := p.Set("nonsense"); err == nil {
		t.Fatal("nonsense accepted")
	}
	if err := (Settings{Density: 5}).Validate(); err == nil {
		t.Fatal("density without interval and ban accepted")
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
}
