package router

import "context"

// recordRoute is `if (!is_method("REGISTER|MESSAGE")) record_route();`.
// The header itself is added per branch by the relay, once the outgoing
// socket is known (double Record-Route when it differs).
type recordRoute struct{ r *Router }

func (recordRoute) Name() string { return "record_route" }

func (recordRoute) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Method != "REGISTER" && c.Req.Method != "MESSAGE" {
		c.RecordRoute = true
	}
	return Next
}
