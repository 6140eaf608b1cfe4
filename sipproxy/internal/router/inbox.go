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
	branch, method, ok := responseBranch(res)
	if !ok {
		return false
	}
	if tx, ok := r.udpTxs.get(branch); ok && tx.req.Method == method {
		tx.receive(res)
		return true
	}
	return r.absorbResponse(res)
}

// responseBranch returns what matches a response to a client transaction
// of ours: the top Via branch (ours, unique) and the CSeq method
// (RFC 3261 17.1.3), without building sipgo's key string.
func responseBranch(res *sip.Response) (branch string, method sip.RequestMethod, ok bool) {
	cseq := res.CSeq()
	if cseq == nil || !rfc3261Branch(res) {
		return "", "", false
	}
	return topViaBranch(res), cseq.MethodName, true
}
