package router

import (
	"github.com/emiago/sipgo/sip"
)

// HandleResponse takes a response read on a UDP listener if it belongs to
// a branch relayed over UDP (its transaction, udptx.go, takes it inline and
// in arrival order) or to a transaction the router has ended early
// (finished.go); false leaves it to sipgo. It never blocks.
//
// sipgo would start a goroutine per response instead, so a 180 and a 200
// sent back to back could reach the relay in either order and the 180 was
// lost.
func (r *Router) HandleResponse(res *sip.Response) bool {
	key, err := sip.ClientTxKeyMake(res)
	if err != nil {
		return false
	}
	if tx, ok := r.udpTxs.get(key); ok {
		tx.receive(res)
		return true
	}
	return r.absorbResponse(key, res)
}
