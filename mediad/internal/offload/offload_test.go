package offload_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"sipmedia/kmod"
	"sipmedia/kmod/nettopo"
	"sipmedia/mediad/internal/offload"
)

// Open's startup decisions: -t -1 touches nothing, a namespace without
// forwarding falls back with one log line (or fails with -F), and a
// forwarding namespace gets one table per family.
func TestOpenFallbackAndFamilies(t *testing.T) {
	if why := nettopo.CanRun(); why != "" {
		t.Skip("offload: ", why)
	}
	topo, err := nettopo.New()
	if err != nil {
		t.Skip("offload: cannot build namespaces: ", err)
	}
	defer topo.Close()
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := offload.Config{Table: 9, PortMin: 40000, PortMax: 40100, IPv4: true, IPv6: true, Log: log}

	// Negative table: userspace, silently.
	off := cfg
	off.Table, off.NoFallback, off.NetNS = -1, true, int(topo.A)
	if k, err := offload.Open(ctx, off); k != nil || err != nil || logs.Len() != 0 {
		t.Errorf("-t -1: %v %v %q", k, err, logs.String())
	}

	// A forwards nothing: one line, userspace.
	noFwd := cfg
	noFwd.NetNS = int(topo.A)
	k, err := offload.Open(ctx, noFwd)
	if k != nil || err != nil {
		t.Errorf("no forwarding: %v %v", k, err)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "forwarding in userspace") {
		t.Errorf("want one log line, got %q", logs.String())
	}
	if k.Enabled() || k.Supports(netip.MustParseAddr("198.18.1.1")) {
		t.Error("nil kernel enabled")
	}
	if err := k.Add(kmod.Flow{}); !errors.Is(err, kmod.ErrDisabled) {
		t.Errorf("nil kernel Add: %v", err)
	}

	// -F: an error.
	noFwd.NoFallback = true
	if _, err := offload.Open(ctx, noFwd); !errors.Is(err, kmod.ErrUnsupported) {
		t.Errorf("-F without forwarding: %v", err)
	}

	// R forwards both families: two tables.
	r := cfg
	r.NetNS = int(topo.R)
	k, err = offload.Open(ctx, r)
	if err != nil || !k.Enabled() {
		t.Fatalf("R: %v %v", k, err)
	}
	if !k.Supports(nettopo.AddrRA) || !k.Supports(nettopo.Addr6RA) {
		t.Error("R: a family is missing")
	}
	f6 := kmod.Flow{LocalA: netip.AddrPortFrom(nettopo.Addr6RA, 40000), PeerA: netip.AddrPortFrom(nettopo.Addr6A, 5000),
		LocalB: netip.AddrPortFrom(nettopo.Addr6RB, 40002), PeerB: netip.AddrPortFrom(nettopo.Addr6B, 6000)}
	if err := k.Add(f6); err != nil {
		t.Errorf("IPv6 flow: %v", err)
	}
	if all, err := k.AllCounters(); err != nil || len(all) != 1 {
		t.Errorf("counters: %v %v", all, err)
	}
	if _, err := k.RemoveStats(f6); err != nil {
		t.Errorf("remove: %v", err)
	}
	if err := k.Close(); err != nil {
		t.Error(err)
	}
}
