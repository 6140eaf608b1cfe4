package router

import (
	"context"

	"github.com/emiago/sipgo/sip"
)

// outbound: `if (!uri==myself) { append_hf("P-hint: outbound"); route(relay); }`.
type outbound struct{ r *Router }

func (outbound) Name() string { return "uri!=myself" }

func (s outbound) Serve(ctx context.Context, c *Ctx) Result {
	if s.r.me.URI(&c.Req.Recipient) {
		return Next
	}
	c.Req.AppendHeader(sip.NewHeader("P-hint", "outbound"))
	s.r.relay(ctx, c)
	return Stop
}
