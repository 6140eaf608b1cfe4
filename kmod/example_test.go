package kmod_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"

	"sipmedia/kmod"
)

// How a daemon wires the kernel path: open at startup (fall back on
// ErrPermission/ErrUnsupported unless --no-fallback), offload a leg pair
// once both peers are latched, read counters for stats and timeouts, hand it
// back on re-INVITE, hold or delete.
func ExampleOpen() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	table, noFallback := 0, false // rtpengine's -t and -F
	var off *kmod.Offloader       // nil: userspace only
	if table >= 0 {
		o, err := kmod.Open(context.Background(), kmod.Config{Table: table, PortMin: 30000, PortMax: 40000, Log: log})
		switch {
		case err == nil:
			off = o
		case noFallback:
			log.Error("kernel forwarding unavailable", "err", err)
			os.Exit(1)
		case errors.Is(err, kmod.ErrPermission), errors.Is(err, kmod.ErrUnsupported):
			log.Warn("kernel forwarding unavailable, userspace only", "err", err)
		default:
			log.Warn("kernel forwarding failed, userspace only", "err", err)
		}
	} else {
		_ = kmod.Purge(context.Background(), kmod.Config{Table: 0}) // leftovers of an earlier run
	}
	defer off.Close()

	flow := kmod.Flow{
		LocalA: netip.MustParseAddrPort("192.0.2.10:30000"), PeerA: netip.MustParseAddrPort("198.51.100.7:4000"),
		LocalB: netip.MustParseAddrPort("192.0.2.10:30002"), PeerB: netip.MustParseAddrPort("203.0.113.9:5004"),
	}
	if err := off.Add(flow); err != nil {
		log.Debug("stream stays in userspace", "err", err)
	}
	if st, err := off.Counters(flow); err == nil {
		log.Info("kernel stats", "from_a", st.FromA.Packets, "from_b", st.FromB.Packets)
	}
	_, _ = off.RemoveStats(flow)
}
