package router

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// What remains of finished UDP transactions.
//
// sipgo keeps a UDP transaction 64*T1 (32 s) after its final response,
// with the parsed request and responses, its timers and hooks: at
// hundreds of calls per second that is tens of MB that every GC marks and
// that the heap keeps growing into. The router's own UDP transactions
// (udpserver.go, udptx.go) end with their final reply instead and leave
// here only what still answers on the wire, for as long:
//
//   - server INVITE answered 2xx (Accepted, RFC 6026): a retransmitted
//     INVITE is absorbed, a CANCEL gets 200;
//   - server non-INVITE (Completed): a retransmitted request gets the
//     final response again;
//   - client INVITE answered 2xx (Accepted): a retransmitted 2xx gets the
//     2xx as relayed upstream (media step applied) again; only for T4 once
//     its ACK has passed (ackpath.go);
//   - client INVITE answered with a failure (Completed): a retransmitted
//     failure gets the ACK again;
//   - client non-INVITE (Completed): retransmitted final replies are
//     absorbed.
//
// Matching is by top Via branch (RFC 3261 branches only), method and, on
// the server side, sent-by.

// finishedServer is what remains of a server transaction.
type finishedServer struct {
	method sip.RequestMethod
	sentBy string                    // top Via host:port, with the branch (the map's key)
	res    []byte                    // final response to resend (non-INVITE); nil: absorb
	send   func(*sip.Response) error // through the listener the request came on
}

// finishedClient is what remains of a client transaction over UDP: an
// INVITE's 2xx as relayed upstream (resent on a 2xx retransmission) or
// the ACK of its failure (resent on a retransmission of the failure); a
// non-INVITE's absorbs retransmissions of its final reply.
type finishedClient struct {
	method      sip.RequestMethod
	res         []byte
	addr, proto string
	ack         *sip.Request
}

// txKeep is how long finished transactions are remembered: Timers J, L
// and M are all 64*T1 over UDP.
const txKeep = branchKeep

func rfc3261Branch(m interface{ Via() *sip.ViaHeader }) bool {
	b := topViaBranch(m)
	return len(b) > len(sip.RFC3261BranchMagicCookie) && strings.HasPrefix(b, sip.RFC3261BranchMagicCookie)
}

func sentBy(via *sip.ViaHeader) string {
	return via.Host + ":" + strconv.Itoa(via.Port)
}

// finishClient ends the client transaction of a branch once its relay
// has ended: a UDP branch keeps what remains of it (udpClientTx.finish);
// sipgo's transactions (other transports) end by themselves.
func (r *Router) finishClient(st *branchState) {
	if st.utx != nil {
		st.utx.finish()
	}
}

// absorbRequest handles a request of a finished server transaction (a
// retransmission, or a CANCEL of an INVITE answered 2xx); false: not one.
func (r *Router) absorbRequest(req *sip.Request, send func(*sip.Response) error) bool {
	if req.IsAck() || r.finishedSrv.len() == 0 {
		return false
	}
	f, ok := r.finishedSrv.get(topViaBranch(req))
	if !ok || f.sentBy != sentBy(req.Via()) {
		return false
	}
	switch {
	case req.IsCancel() && f.method == sip.INVITE:
		// As an Accepted INVITE transaction: 200 to the CANCEL, nothing
		// else.
		r.Metrics.Retransmissions.Add(1)
		ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
		ok.SetDestination(replyAddr(req))
		_ = send(ok)
	case req.Method == f.method:
		r.Metrics.Retransmissions.Add(1)
		if f.res != nil {
			if m, err := sip.ParseMessage(f.res); err == nil {
				res := m.(*sip.Response)
				res.SetDestination(replyAddr(req))
				_ = f.send(res)
			}
		}
	default:
		return false
	}
	return true
}

// absorbResponse handles a response of a finished client transaction;
// false: not one.
func (r *Router) absorbResponse(res *sip.Response) bool {
	branch, method, ok := responseBranch(res)
	if !ok || r.finishedCli.len()+r.ackedCli.len() == 0 {
		return false
	}
	f, ok := r.finishedCli.get(branch)
	if !ok {
		f, ok = r.ackedCli.get(branch)
	}
	if !ok || f.method != method {
		return false
	}
	r.Metrics.Retransmissions.Add(1)
	switch code := res.StatusCode; {
	case code >= 200 && code < 300 && f.res != nil:
		r.resend(f.res, f.addr, f.proto)
	case code >= 300 && f.ack != nil:
		if err := r.writeRequest(f.ack.Clone()); err != nil {
			r.log.Debug("ACK of a failure not resent", "error", err)
		}
	}
	return true
}

// resend sends a response kept as bytes.
func (r *Router) resend(b []byte, addr, proto string) {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		r.log.Debug("kept response unparsable", "error", err)
		return
	}
	if r.resendHook != nil {
		r.resendHook(msg, addr)
		return
	}
	if err := r.tpl.WriteMsgTo(msg, addr, proto); err != nil {
		r.log.Debug("retransmission not sent", "error", err)
	}
}
