package router

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Early end of sipgo's UDP server transactions.
//
// sipgo keeps a UDP server transaction 64*T1 (32 s) after its final
// response, with the parsed request and response, its timers and hooks:
// at hundreds of calls per second that is tens of MB that every GC marks
// and that the heap keeps growing into. What such a transaction still
// does on the wire is little, so once the router is done with a request
// over UDP it terminates sipgo's transaction and keeps only that, for as
// long:
//
//   - INVITE answered 2xx (Accepted, RFC 6026): a retransmitted INVITE is
//     absorbed, a CANCEL gets 200;
//   - non-INVITE (Completed): a retransmitted request gets the final
//     response again.
//
// An INVITE answered with a failure keeps sipgo's transaction (it
// retransmits the reply until the ACK). Client transactions over UDP are
// the router's own (udptx.go); what remains of them is kept here too
// (finishedClient). Only RFC 3261 branches are matched.

// sipgo's Timer L (the Accepted state) is not stopped when the
// transaction is terminated, so its closure keeps an INVITE transaction
// reachable for 64*T1 anyway, with the request and the last response it
// points at. When it fires it only runs the deletion, which reads no
// message; so once terminated, those messages (ours alone by then) are
// emptied and only the transaction's own small struct stays behind.
func releaseRequest(m *sip.Request)   { *m = sip.Request{} }
func releaseResponse(m *sip.Response) { *m = sip.Response{} }

// finishedServer is what remains of a server transaction.
type finishedServer struct {
	method sip.RequestMethod
	sentBy string // top Via host:port, with the branch (the map's key)
	res    []byte // final response to resend (non-INVITE); nil: absorb
	addr   string // where it goes (UDP)
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

// finishServer ends the server transaction of a request routed over UDP
// once it has its final response.
func (r *Router) finishServer(c *Ctx) {
	if c.Tx == nil || c.Proto != "UDP" || c.final == nil || !rfc3261Branch(c.Orig) {
		return
	}
	key, via := topViaBranch(c.Orig), c.Orig.Via()
	f := finishedServer{method: c.Orig.Method, sentBy: sentBy(via)}
	code := c.final.StatusCode
	switch {
	case c.Orig.IsInvite() && code < 300:
		r.finishedSrv.put(key, f)
		c.Tx.Terminate()
		// Handle's caller reads the transaction's last response once
		// more (TerminateGracefully): emptied, it reads as not final,
		// and the transaction is already terminated.
		releaseResponse(c.final)
		releaseRequest(c.Orig)
	case c.Orig.IsInvite():
		// sipgo retransmits the failure until the ACK.
	default:
		f.res, f.addr = []byte(c.final.String()), replyAddr(c.Orig)
		r.finishedSrv.put(key, f)
		c.Tx.Terminate() // Timer J is stopped: nothing stays
	}
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
func (r *Router) absorbRequest(req *sip.Request, tx sip.ServerTransaction) bool {
	if req.IsAck() || req.Transport() != "UDP" || !rfc3261Branch(req) || r.finishedSrv.len() == 0 {
		return false
	}
	f, ok := r.finishedSrv.get(topViaBranch(req))
	if !ok || f.sentBy != sentBy(req.Via()) {
		return false
	}
	switch {
	case req.IsCancel() && f.method == sip.INVITE:
		// As sipgo's Accepted INVITE transaction: 200 to the CANCEL,
		// nothing else.
		r.Metrics.Retransmissions.Add(1)
		if tx != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
	case req.Method == f.method:
		r.Metrics.Retransmissions.Add(1)
		if f.res != nil {
			r.resend(f.res, f.addr, "UDP")
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
	if !ok || r.finishedCli.len() == 0 {
		return false
	}
	f, ok := r.finishedCli.get(branch)
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
