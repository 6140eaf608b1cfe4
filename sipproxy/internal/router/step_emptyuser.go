package router

import "context"

// emptyUser: `if ($rU==NULL) sl_send_reply("484","Address Incomplete")`.
type emptyUser struct{ r *Router }

func (emptyUser) Name() string { return "$rU==NULL" }

func (emptyUser) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Recipient.User != "" {
		return Next
	}
	if !c.Req.IsAck() {
		c.Reply(484, "Address Incomplete")
	}
	return Stop
}
