package daemon

import (
	"context"
	"log/slog"

	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/offload"
)

// openKernel opens the kernel fast path as -t/--table and -F/--no-fallback
// say (package offload): nil when userspace forwarding is used, an error
// only with --no-fallback. IPv6 gets its own table when an interface has an
// IPv6 address.
func openKernel(ctx context.Context, cfg *config.Config, log *slog.Logger) (*offload.Kernel, error) {
	oc := offload.Config{Table: cfg.Table, NoFallback: cfg.NoFallback, PortMin: cfg.PortMin, PortMax: cfg.PortMax,
		TOS: uint8(cfg.TOS), Log: log.With("component", "kernel")}
	for _, i := range cfg.Interfaces {
		if i.Address.Unmap().Is4() {
			oc.IPv4 = true
		} else {
			oc.IPv6 = true
		}
	}
	return offload.Open(ctx, oc)
}
