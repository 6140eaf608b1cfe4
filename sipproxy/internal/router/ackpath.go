package router

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// Inline ACK relay.
//
// An ACK for a 2xx is end-to-end: a proxy forwards it statelessly
// (RFC 3261 13.2.2.4, 16.11), so over UDP it is routed in the listener's
// read loop like a stateless REGISTER, without a goroutine or a
// transaction. An ACK for a non-2xx final reply belongs to the INVITE's
// server transaction (same top Via branch, RFC 3261 17.1.1.3), which
// takes it first (udpserver.go). An ACK with a body (the late answer) is
// routed on a goroutine of its own: the media step would block the read
// loop.

// branchKeep is 64*T1: Timers H, J and L, how long finished transactions
// are remembered.
const branchKeep = 64 * 500 * time.Millisecond

func topViaBranch(m interface{ Via() *sip.ViaHeader }) string {
	if v := m.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// statelessAck reports whether an ACK read on UDP may be relayed inline.
func statelessAck(req *sip.Request) bool {
	return len(req.Body()) == 0 && hasTag(req)
}
