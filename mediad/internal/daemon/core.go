package daemon

import (
	"context"
	"log/slog"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/ports"
	"sipmedia/ngproto"
)

// core is the call side of the daemon: the registry, its NG handler and
// the CLI's view of it. This file is the seam with packages call and
// control; until they are plugged in, a placeholder answers ping only.
type core struct {
	calls   cli.Calls
	handler func(*cli.Runner) ngproto.Handler
	run     func(context.Context) // registry timers; nil if none
	close   func()                // releases every call
}

func newCore(cfg *config.Config, alloc *ports.Allocator, log *slog.Logger) (*core, error) {
	_, _, _ = cfg, alloc, log
	return &core{
		calls: noCalls{},
		handler: func(*cli.Runner) ngproto.Handler {
			return ngproto.HandlerFunc(placeholderHandler)
		},
		close: func() {},
	}, nil
}
