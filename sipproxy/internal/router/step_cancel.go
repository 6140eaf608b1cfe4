package router

import "context"

// cancelStep is `if (is_method("CANCEL")) { if (t_check_trans()) t_relay();
// exit; }`. A CANCEL matching an INVITE transaction is consumed by sipgo's
// transaction layer (200 to the CANCEL, 487 to the INVITE) and the relay of
// that INVITE cancels its branches; one that reaches the chain matched
// nothing and is dropped.
type cancelStep struct{ r *Router }

func (cancelStep) Name() string { return "cancel" }

func (s cancelStep) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Method != "CANCEL" {
		return Next
	}
	s.r.Metrics.Dropped.Add(1)
	return Stop
}
