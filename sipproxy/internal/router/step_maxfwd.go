package router

import (
	"context"

	"github.com/emiago/sipgo/sip"
)

// maxFwd is mf_process_maxfwd_header("10"): add Max-Forwards: 10 when
// absent, 483 "Too Many Hops" at 0, otherwise clamp to 256 and decrement.
type maxFwd struct{ r *Router }

func (maxFwd) Name() string { return "mf_process_maxfwd_header" }

func (s maxFwd) Serve(_ context.Context, c *Ctx) Result {
	mf := c.Req.MaxForwards()
	if mf == nil {
		v := sip.MaxForwardsHeader(10)
		c.Req.AppendHeader(&v)
		return Next
	}
	if mf.Val() == 0 {
		if !c.Req.IsAck() {
			c.Reply(483, "Too Many Hops")
		}
		return Stop
	}
	v := mf.Val()
	if v > 256 {
		v = 256
	}
	*mf = sip.MaxForwardsHeader(v - 1)
	return Next
}
