package router

import (
	"context"

	"sipmedia/sipproxy/internal/nat"
)

// fixContact is fix_nated_contact(): Contact host:port := packet source.
type fixContact struct{ r *Router }

func (fixContact) Name() string { return "fix_nated_contact" }

func (s fixContact) Serve(_ context.Context, c *Ctx) Result {
	if _, err := nat.FixContact(c.Req, c.Source); err != nil {
		s.r.log.Debug("fix_nated_contact", "error", err, "call-id", c.callID())
	}
	return Next
}
