package router

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// Inline ACK relay.
//
// An ACK for a 2xx is end-to-end: a proxy forwards it statelessly
// (RFC 3261 13.2.2.4, 16.11), so over UDP it is routed in the listener's
// read loop like a stateless REGISTER, without sipgo's goroutine and
// server transaction. Only an ACK for a non-2xx final reply belongs to a
// transaction (the INVITE server transaction absorbs it and stops
// retransmitting its reply); such an ACK carries the INVITE's top Via
// branch (RFC 3261 17.1.1.3), so the branches of INVITE server
// transactions over UDP that have not been answered with a 2xx are
// remembered here and their ACKs go to sipgo as before. An ACK with a
// body (the late answer) also goes to sipgo: the media step would block
// the read loop.

// branchKeep is how long an INVITE's branch is remembered: Timer H
// (64*T1), after which sipgo's transaction no longer waits for the ACK.
const branchKeep = 64 * 500 * time.Millisecond

func topViaBranch(m interface{ Via() *sip.ViaHeader }) string {
	if v := m.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// trackInvite remembers an INVITE server transaction over UDP until it is
// answered with a 2xx (answered2xx).
func (c *Ctx) trackInvite() {
	if c.Orig.IsInvite() && c.Proto == "UDP" && c.Tx != nil {
		if b := topViaBranch(c.Orig); b != "" {
			c.r.invites.put(b, struct{}{})
			c.tracked = true
		}
	}
}

func (c *Ctx) answered2xx() {
	if c.tracked {
		c.tracked = false
		c.r.invites.remove(topViaBranch(c.Orig))
	}
}

// statelessAck reports whether an ACK read on UDP may be relayed inline.
func (r *Router) statelessAck(req *sip.Request) bool {
	if len(req.Body()) != 0 || !hasTag(req) {
		return false
	}
	b := topViaBranch(req)
	if b == "" {
		return false
	}
	_, pending := r.invites.get(b)
	return !pending
}
