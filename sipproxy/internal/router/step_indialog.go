package router

import (
	"context"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/nat"
)

// inDialog is the has_totag() block: loose_route() then relay (with
// record_route for re-INVITEs); otherwise an ACK is relayed only if it
// matches a transaction (sipgo absorbs those, so it is dropped here) and
// anything else gets 404 "Not here".
//
// Beyond the seed: a request straight from its UA (one Via) gets
// fix_nated_contact() as initial requests do. A re-INVITE is a target
// refresh: with a browser's .invalid Contact left as it was, the other
// party's next request (a BYE after a hold) would go nowhere.
type inDialog struct{ r *Router }

func (inDialog) Name() string { return "has_totag" }

// infoDTMF hands a DTMF INFO to the media step when it plays such digits
// into the media (--info-dtmf=inject) and answers it; otherwise, or if
// the media daemon fails, the INFO is relayed.
func (s inDialog) infoDTMF(ctx context.Context, c *Ctx) bool {
	if c.Req.Method != sip.INFO {
		return false
	}
	m, ok := s.r.media.(InfoDTMFMedia)
	if !ok {
		return false
	}
	handled, err := m.InfoDTMF(ctx, c.Req)
	if err != nil {
		s.r.log.Warn("INFO DTMF into the media, relaying the INFO instead", "error", err, "call-id", c.callID())
	}
	if handled {
		c.Reply(200, "OK")
	}
	return handled
}

func (s inDialog) Serve(ctx context.Context, c *Ctx) Result {
	if !hasTag(c.Req) {
		return Next
	}
	if looseRoute(c) {
		if c.Req.IsInvite() {
			c.RecordRoute = true
		}
		if len(c.Req.GetHeaders("Via")) == 1 {
			if _, err := nat.FixContact(c.Req, c.Source); err != nil {
				s.r.log.Debug("fix_nated_contact", "error", err, "call-id", c.callID())
			}
		}
		if s.infoDTMF(ctx, c) {
			return Stop
		}
		s.r.relay(ctx, c)
		return Stop
	}
	if c.Req.IsAck() {
		// t_check_trans(): an ACK to a negative reply never gets here
		// (the INVITE server transaction absorbs it); the rest is
		// discarded.
		s.r.Metrics.Dropped.Add(1)
		return Stop
	}
	c.Reply(404, "Not here")
	return Stop
}
