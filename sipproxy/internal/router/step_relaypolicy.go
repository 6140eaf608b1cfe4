package router

import "context"

// relayPolicy: for anything but REGISTER, if the From URI is not ours the
// R-URI must be, else 403 "Rely forbidden" (the seed's spelling).
type relayPolicy struct{ r *Router }

func (relayPolicy) Name() string { return "from_uri!=myself" }

func (s relayPolicy) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Method == "REGISTER" {
		return Next
	}
	if s.r.me.URI(&c.Req.From().Address) || s.r.me.URI(&c.Req.Recipient) {
		return Next
	}
	if !c.Req.IsAck() {
		c.Reply(403, "Rely forbidden")
	}
	return Stop
}
