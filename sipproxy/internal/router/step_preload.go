package router

import "context"

// preloadedRoute: loose_route() on an initial request. A Route that is
// only ours is stripped and routing goes on; any other preloaded Route is
// refused with 403 "Preload Route denied" (ACKs are just dropped).
type preloadedRoute struct{ r *Router }

func (preloadedRoute) Name() string { return "loose_route(preloaded)" }

func (s preloadedRoute) Serve(_ context.Context, c *Ctx) Result {
	if !looseRoute(c) {
		return Next
	}
	s.r.log.Warn("attempt to route with preloaded Route", "from", c.Req.From().Address.String(),
		"to", c.Req.To().Address.String(), "ruri", c.Req.Recipient.String(), "call-id", c.callID())
	if !c.Req.IsAck() {
		c.Reply(403, "Preload Route denied")
	}
	return Stop
}
