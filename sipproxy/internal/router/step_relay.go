package router

import "context"

// relayStep is the final route(relay) of the main route.
type relayStep struct{ r *Router }

func (relayStep) Name() string { return "route(relay)" }

func (s relayStep) Serve(ctx context.Context, c *Ctx) Result {
	s.r.relay(ctx, c)
	return Stop
}
