package router

import "context"

// srcWS: `if (proto == WS || proto == WSS) setflag(SRC_WS);`.
type srcWS struct{ r *Router }

func (srcWS) Name() string { return "setflag(SRC_WS)" }

func (srcWS) Serve(_ context.Context, c *Ctx) Result {
	c.SrcWS = c.Proto == "WS" || c.Proto == "WSS"
	return Next
}
