package router

import (
	"strconv"
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

// An ACK also shortens what is kept of the INVITE's client transaction
// (finished.go): the relayed 2xx is resent for a 2xx retransmission for
// 64*T1 (Timer M) while no ACK has passed, and only for T4 (as long as
// Kamailio's tm keeps a transaction after its final reply) once one has:
// the UAS retransmits its 2xx only if our ACK got lost, and keeping every
// call's 2xx 32 s was most of the proxy's live heap under load.

// dialogKey matches a 2xx to its ACK: Call-ID, CSeq number and To tag.
func dialogKey(m interface {
	CallID() *sip.CallIDHeader
	CSeq() *sip.CSeqHeader
	To() *sip.ToHeader
}) string {
	id, cseq, to := m.CallID(), m.CSeq(), m.To()
	if id == nil || cseq == nil || to == nil {
		return ""
	}
	tag, _ := to.Params.Get("tag")
	return id.Value() + " " + strconv.FormatUint(uint64(cseq.SeqNo), 10) + " " + tag
}

// ackSeen notes that the ACK of a relayed 2xx passed.
func (r *Router) ackSeen(ack *sip.Request) {
	if r.dialogs.len() == 0 {
		return
	}
	key := dialogKey(ack)
	rt, ok := r.dialogs.get(key)
	if !ok {
		return
	}
	r.dialogs.remove(key)
	rt.mu.Lock()
	rt.acked = true
	branch := rt.branch
	rt.mu.Unlock()
	// Already finished: move what is kept to the short map.
	if rec, ok := r.finishedCli.record(branch); ok {
		if f, ok := parseClient(rec); ok && f.res != nil {
			r.finishedCli.remove(branch)
			r.ackedCli.putRecord(branch, rec)
		}
	}
}

// ackedKeep is how long a 2xx is kept once its ACK has passed: T4.
const ackedKeep = 5 * time.Second
