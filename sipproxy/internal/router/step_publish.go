package router

import "context"

// publish503: PUBLISH and SUBSCRIBE for our domain get 503.
type publish503 struct{ r *Router }

func (publish503) Name() string { return "is_method(PUBLISH|SUBSCRIBE)" }

func (publish503) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Method == "PUBLISH" || c.Req.Method == "SUBSCRIBE" {
		c.Reply(503, "Service Unavailable")
		return Stop
	}
	return Next
}
