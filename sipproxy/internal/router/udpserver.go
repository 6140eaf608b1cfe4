package router

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/transport"
)

// udpServerTx is the server transaction (RFC 3261 17.2, RFC 6026) of a
// request read on a UDP listener, kept by the router instead of sipgo:
// the request is matched and parsed in the read loop (HandleStateless)
// and routed on a goroutine of its own, with no sipgo transaction, timers
// or connection lookups. It implements sip.ServerTransaction for the
// chain.
//
// A retransmitted request gets the last provisional reply again; a 2xx to
// an INVITE and a final reply to anything else end it at once, leaving
// only what answers retransmissions (finished.go); a failure of an INVITE
// is retransmitted (Timer G) until its ACK (then Timer I absorbs ACKs) or
// Timer H. A CANCEL matching it gets 200, the relay is told (OnCancel)
// and the INVITE gets 487, as sipgo's transaction does.
type udpServerTx struct {
	r      *Router
	key    string // top Via branch
	sentBy string
	req    *sip.Request
	send   transport.Replier // through the listener it came on

	mu       sync.Mutex
	state    udpTxState // txProceeding (also before any reply), txCompleted, txAccepted, txTerminated
	last     *sip.Response
	confirm  bool // ACK received (Timer I running)
	interval time.Duration
	timer    *time.Timer // Timer G / H / I
	deadline time.Time   // Timer H
	onCancel sip.FnTxCancel
	done     chan struct{}
	err      error
}

// udpSrvTxs indexes the live UDP server transactions by top Via branch.
type udpSrvTxs struct {
	mu sync.Mutex
	m  map[string]*udpServerTx
}

func (t *udpSrvTxs) get(key string) *udpServerTx {
	t.mu.Lock()
	tx := t.m[key]
	t.mu.Unlock()
	return tx
}

func (t *udpSrvTxs) add(tx *udpServerTx) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]*udpServerTx{}
	}
	t.m[tx.key] = tx
	t.mu.Unlock()
}

func (t *udpSrvTxs) remove(tx *udpServerTx) {
	t.mu.Lock()
	if t.m[tx.key] == tx {
		delete(t.m, tx.key)
	}
	t.mu.Unlock()
}

// serveUDP takes a request read on UDP listener in that HandleStateless
// does not answer statelessly: a retransmission or CANCEL of one of our
// transactions, or a new transaction routed on its own goroutine. It
// returns false for requests left to sipgo (no RFC 3261 branch).
func (r *Router) serveUDP(req *sip.Request, in transport.Socket, send transport.Replier) bool {
	if !rfc3261Branch(req) || req.Via() == nil || req.CSeq() == nil {
		return false
	}
	key, sb := topViaBranch(req), sentBy(req.Via())
	if tx := r.srvTxs.get(key); tx != nil && tx.sentBy == sb {
		switch {
		case req.Method == tx.req.Method:
			tx.retransmission()
			return true
		case req.IsAck() && tx.req.IsInvite():
			tx.ack()
			return true
		case req.IsCancel() && tx.req.IsInvite():
			tx.cancel(req, send)
			return true
		}
	}
	if r.absorbRequest(req, send) {
		return true
	}
	if req.IsAck() || req.IsCancel() {
		// A 2xx ACK, relayed statelessly, or a CANCEL matching nothing:
		// routed without a transaction, inline unless the media step may
		// block (an ACK with a body: the late answer).
		c := r.statelessCtx(req, in, send)
		if req.IsAck() && !statelessAck(req) {
			r.handlers.run(func() { r.serve(c) })
		} else {
			r.serve(c)
		}
		return true
	}
	tx := &udpServerTx{r: r, key: key, sentBy: sb, req: req, send: send, done: make(chan struct{})}
	r.srvTxs.add(tx)
	if req.IsInvite() && !hasTag(req) && r.cfg.Overload.Refuse() {
		// Refused through its transaction, so that retransmissions get
		// the 503 again and its ACK is absorbed, as for any failure.
		res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.SetDestination(replyAddr(req))
		r.Metrics.reply(503)
		_ = tx.Respond(res)
		return true
	}
	c := &Ctx{r: r, Orig: req, Req: req, Tx: tx, Proto: "UDP", Source: req.Source(), In: in}
	r.handlers.run(func() {
		r.serve(c)
		tx.handlerDone()
	})
	return true
}

// Respond sends res and moves the transaction on.
func (tx *udpServerTx) Respond(res *sip.Response) error { return tx.respond(res, nil) }

// respond is Respond with res already serialised as wire (or nil).
func (tx *udpServerTx) respond(res *sip.Response, wire []byte) error {
	code := res.StatusCode
	tx.mu.Lock()
	if tx.state != txCalling && tx.state != txProceeding {
		tx.mu.Unlock()
		return nil // final reply already sent (a CANCEL's 487)
	}
	tx.last = res
	final := code >= 200
	if final {
		tx.state = txCompleted
		if tx.req.IsInvite() && code < 300 {
			tx.state = txAccepted
		}
	}
	failedInvite := final && code >= 300 && tx.req.IsInvite()
	if failedInvite {
		tx.interval = sip.Timer_G
		tx.deadline = time.Now().Add(sip.Timer_H)
		tx.timer = time.AfterFunc(tx.interval, tx.tick)
	}
	tx.mu.Unlock()
	if final && !failedInvite {
		return tx.finish(res, wire)
	}
	return tx.sendRes(res, wire)
}

func (tx *udpServerTx) sendRes(res *sip.Response, wire []byte) error {
	if wire != nil {
		return tx.send.ReplyWire(wire, res.Destination())
	}
	return tx.send.Reply(res)
}

// finish sends the final reply res (as wire, when not nil), leaves what
// answers retransmissions (finished.go) and ends the transaction. A
// non-INVITE's reply is kept to be resent: it is serialised once, into
// the record, and sent from there.
func (tx *udpServerTx) finish(res *sip.Response, wire []byte) error {
	kept := res
	if tx.req.IsInvite() {
		kept = nil // absorbed, never resent
	}
	rec, keptWire := serverRecord(tx.req.Method, tx.sentBy, kept)
	if keptWire != nil {
		wire = keptWire
	}
	// Sent before the record is kept: keeping returns its buffer.
	err := tx.sendRes(res, wire)
	tx.r.finishedSrv.putBuilt(tx.key, rec)
	tx.end(nil)
	return err
}

// tick is Timer G (retransmit the failure) then H (give up), or I.
func (tx *udpServerTx) tick() {
	tx.mu.Lock()
	if tx.state != txCompleted || tx.confirm || !time.Now().Before(tx.deadline) {
		tx.mu.Unlock()
		tx.end(nil)
		return
	}
	res := tx.last
	tx.interval = min(2*tx.interval, sip.T2)
	tx.timer.Reset(min(tx.interval, time.Until(tx.deadline)))
	tx.mu.Unlock()
	_ = tx.send.Reply(res)
}

// retransmission answers a retransmitted request with the last reply.
func (tx *udpServerTx) retransmission() {
	tx.mu.Lock()
	res := tx.last
	tx.mu.Unlock()
	if res != nil {
		tx.r.Metrics.Retransmissions.Add(1)
		_ = tx.send.Reply(res)
	}
}

// ack is the ACK of the INVITE's failure: retransmissions stop, further
// ACKs are absorbed for Timer I.
func (tx *udpServerTx) ack() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state != txCompleted || tx.confirm {
		return
	}
	tx.confirm = true
	tx.timer.Reset(sip.Timer_I)
}

// cancel is a CANCEL of this INVITE: 200 to it; while no final reply was
// sent, the relay is told and the INVITE answered 487.
func (tx *udpServerTx) cancel(cr *sip.Request, send transport.Replier) {
	ok := sip.NewResponseFromRequest(cr, 200, "OK", nil)
	ok.SetDestination(replyAddr(cr))
	_ = send.Reply(ok)
	tx.mu.Lock()
	pending := tx.state == txCalling || tx.state == txProceeding
	hook := tx.onCancel
	if pending {
		tx.err = sip.ErrTransactionCanceled
	}
	tx.mu.Unlock()
	if !pending {
		return
	}
	if hook != nil {
		hook(cr)
	}
	res := sip.NewResponseFromRequest(tx.req, 487, "Request Terminated", nil)
	res.SetDestination(replyAddr(tx.req))
	_ = tx.Respond(res)
}

// handlerDone is called when the chain has returned: a transaction
// without a final reply ends (sipgo's TerminateGracefully).
func (tx *udpServerTx) handlerDone() {
	tx.mu.Lock()
	pending := tx.state == txCalling || tx.state == txProceeding
	tx.mu.Unlock()
	if pending {
		tx.end(nil)
	}
}

func (tx *udpServerTx) end(err error) {
	tx.mu.Lock()
	if tx.state == txTerminated {
		tx.mu.Unlock()
		return
	}
	if tx.state == txCalling || tx.state == txProceeding {
		tx.err = err
	}
	tx.state = txTerminated
	if tx.timer != nil {
		tx.timer.Stop()
	}
	tx.mu.Unlock()
	tx.r.srvTxs.remove(tx)
	close(tx.done)
}

// Terminate, OnTerminate, Done, Err, Acks and OnCancel make it a
// sip.ServerTransaction.
func (tx *udpServerTx) Terminate()                         { tx.end(sip.ErrTransactionTerminated) }
func (tx *udpServerTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *udpServerTx) Done() <-chan struct{}              { return tx.done }
func (tx *udpServerTx) Acks() <-chan *sip.Request          { return nil }

func (tx *udpServerTx) Err() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.err
}

func (tx *udpServerTx) OnCancel(f sip.FnTxCancel) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.state == txTerminated {
		return false
	}
	tx.onCancel = f
	return true
}

var _ sip.ServerTransaction = (*udpServerTx)(nil)
