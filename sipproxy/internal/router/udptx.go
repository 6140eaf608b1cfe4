package router

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// udpClientTx is the client transaction (RFC 3261 17.1) of a branch
// relayed over UDP, kept by the router instead of sipgo. The responses
// read on the listener are matched to it inline (HandleResponse), so they
// reach the relay loop in arrival order with one hand-off, and a branch
// costs no goroutine: sipgo's transaction wanted one to feed it (its
// Receive blocks until the response is read) and one to read it, and
// started a goroutine per response besides.
//
// It retransmits the request (Timer A/E, doubling, capped at T2 for a
// non-INVITE, stopped for an INVITE by the first provisional), times out
// (Timer B/F: the relay's evDone with sip.ErrTransactionTimeout), ACKs a
// non-2xx final reply to an INVITE (17.1.1.3) and passes a 2xx
// retransmission to its hook; other responses after the final one are
// absorbed. What is left once the relay ends is kept by finishClient.
type udpClientTx struct {
	r      *Router
	run    *relayRun
	i      int    // branch index in run
	key    string // our top Via branch
	req    *sip.Request
	invite bool
	// sendMu keeps one write of req at a time: sipgo's WriteMsg stores
	// the resolved address in the request, and the first send and the
	// retransmissions run on different goroutines (the race detector
	// caught two ticks with no order between their writes). Not mu: a
	// send may block, and the read loop takes mu.
	sendMu sync.Mutex

	mu       sync.Mutex
	state    udpTxState
	interval time.Duration  // current Timer A/E
	deadline time.Time      // Timer B/F
	timer    *time.Timer    // A/E and B/F: one timer, the earlier of both
	ack      *sip.Request   // ACK of a non-2xx final reply (INVITE)
	retx     *retransmitter // 2xx retransmissions (INVITE)
}

type udpTxState int

const (
	txCalling udpTxState = iota
	txProceeding
	txAccepted  // INVITE answered 2xx (RFC 6026)
	txCompleted // final reply: non-2xx to an INVITE, any to a non-INVITE
	txTerminated
)

// udpTxs indexes the running UDP client transactions by our top Via
// branch (the method is checked on the transaction).
type udpTxs struct {
	mu sync.Mutex
	m  map[string]*udpClientTx
}

func (t *udpTxs) add(tx *udpClientTx) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*udpClientTx{}
	}
	if _, dup := t.m[tx.key]; dup {
		return false
	}
	t.m[tx.key] = tx
	return true
}

func (t *udpTxs) remove(tx *udpClientTx) {
	t.mu.Lock()
	if t.m[tx.key] == tx {
		delete(t.m, tx.key)
	}
	t.mu.Unlock()
}

func (t *udpTxs) get(key string) (*udpClientTx, bool) {
	t.mu.Lock()
	tx, ok := t.m[key]
	t.mu.Unlock()
	return tx, ok
}

// startUDPTx sends req (branch i of run) and starts its transaction.
func (r *Router) startUDPTx(run *relayRun, i int, req *sip.Request) (*udpClientTx, error) {
	key := topViaBranch(req)
	tx := &udpClientTx{r: r, run: run, i: i, key: key, req: req, invite: req.IsInvite(), interval: sip.Timer_A}
	timeout := sip.Timer_F
	if tx.invite {
		timeout = sip.Timer_B
	}
	// Timer first and registered before sending: the first reply may
	// come at once.
	tx.mu.Lock()
	tx.deadline = time.Now().Add(timeout)
	tx.timer = time.AfterFunc(min(tx.interval, timeout), tx.tick)
	tx.mu.Unlock()
	if !r.udpTxs.add(tx) {
		tx.Terminate()
		return nil, errSendFailed
	}
	if err := tx.write(); err != nil {
		tx.Terminate()
		return nil, err
	}
	return tx, nil
}

// write sends the transaction's request (first time or again).
func (tx *udpClientTx) write() error {
	tx.sendMu.Lock()
	defer tx.sendMu.Unlock()
	return tx.r.writeRequest(tx.req)
}

func (r *Router) writeRequest(req *sip.Request) error {
	if r.writeHook != nil {
		return r.writeHook(req)
	}
	return r.tpl.WriteMsg(req)
}

// tick is Timer A (INVITE) or E (non-INVITE), the retransmissions, and
// Timer B or F, the timeout, on one timer: an INVITE stops both at its
// first provisional reply, a non-INVITE retransmits every T2 from then
// on until its final reply or the timeout.
func (tx *udpClientTx) tick() {
	tx.mu.Lock()
	if tx.state != txCalling && tx.state != txProceeding {
		tx.mu.Unlock()
		return
	}
	left := time.Until(tx.deadline)
	if left <= 0 {
		tx.state = txTerminated
		tx.mu.Unlock()
		tx.r.udpTxs.remove(tx)
		tx.run.send(event{kind: evDone, i: tx.i, err: sip.ErrTransactionTimeout})
		return
	}
	if tx.invite || tx.state == txCalling {
		tx.interval *= 2
	}
	if !tx.invite && (tx.interval > sip.T2 || tx.state == txProceeding) {
		tx.interval = sip.T2
	}
	tx.timer.Reset(min(tx.interval, left))
	tx.mu.Unlock()
	if err := tx.write(); err != nil {
		tx.r.log.Debug("request retransmission failed", "error", err)
	}
}

// receive takes a response of this branch, in the listener's read loop:
// it never blocks.
func (tx *udpClientTx) receive(res *sip.Response) {
	code := res.StatusCode
	tx.mu.Lock()
	switch tx.state {
	case txCalling, txProceeding:
		runDone := false
		select {
		case <-tx.run.done:
			// The relay has ended (Timer C, fr_timeout after a
			// provisional): a final reply only ends the transaction.
			runDone = true
		default:
			if !tx.run.tryPost(event{kind: evResponse, i: tx.i, res: res}) {
				// Dropped as the network could have, before it changed
				// anything: the UAS retransmits its final reply.
				tx.mu.Unlock()
				tx.r.Metrics.InboxFull.Add(1)
				return
			}
		}
		switch {
		case code < 200:
			tx.state = txProceeding
			if tx.invite {
				tx.timer.Stop() // Timers A and B
			}
		case code < 300 && tx.invite:
			tx.state = txAccepted
			tx.stopTimers()
		default:
			tx.state = txCompleted
			tx.stopTimers()
			if tx.invite {
				tx.ack = ackFor(tx.req, res)
			}
		}
		ack := tx.ack
		tx.mu.Unlock()
		if ack != nil && code >= 300 {
			tx.sendAck(ack)
		}
		if runDone && code >= 200 {
			tx.finish()
		}
	case txAccepted:
		rt := tx.retx
		tx.mu.Unlock()
		if rt != nil && code >= 200 && code < 300 {
			rt.retransmit2xx(res)
		}
	case txCompleted:
		ack := tx.ack
		tx.mu.Unlock()
		if ack != nil && code >= 300 {
			tx.sendAck(ack)
		}
	default:
		tx.mu.Unlock()
	}
}

func (tx *udpClientTx) sendAck(ack *sip.Request) {
	// Built once and sent from the read loop or the relay: sent as a copy
	// (sipgo's transport writes the resolved address into the request).
	if err := tx.r.writeRequest(ack.Clone()); err != nil {
		tx.r.log.Debug("ACK of a failure not sent", "error", err)
	}
}

// stopTimers; tx.mu is held.
func (tx *udpClientTx) stopTimers() { tx.timer.Stop() }

// finish keeps what remains of the transaction once its relay has ended
// and it has its final reply (finished.go) and ends it; one still waiting
// for its final reply is left to it or to Timer B/F.
func (tx *udpClientTx) finish() {
	tx.mu.Lock()
	state, ack, rt := tx.state, tx.ack, tx.retx
	tx.mu.Unlock()
	switch state {
	case txCalling, txProceeding:
		return
	case txAccepted:
		if fwd, rec, acked := rt.take(); fwd != nil {
			to := tx.r.finishedCli
			if acked {
				to = tx.r.ackedCli
			}
			if rec == nil {
				rec, _ = rt.record(tx.req.Method, fwd)
			}
			to.putBuilt(tx.key, rec)
		}
	case txCompleted:
		if ack == nil {
			tx.r.finishedCli.putClient(tx.key, tx.req.Method, nil, "", "", "")
		} else {
			tx.r.finishedCli.putClient(tx.key, tx.req.Method, ack, ack.Destination(), ack.Transport(), ack.Laddr.String())
		}
	}
	tx.Terminate()
}

// Terminate ends the transaction (fr_timeout, end of the relay).
func (tx *udpClientTx) Terminate() {
	tx.mu.Lock()
	if tx.state != txTerminated {
		tx.state = txTerminated
		tx.stopTimers()
	}
	tx.mu.Unlock()
	tx.r.udpTxs.remove(tx)
}

// ackFor builds the ACK of a non-2xx final reply res to inv (RFC 3261
// 17.1.1.3), as sipgo's transaction builds it: R-URI, top Via and Route
// set of the INVITE, To of the reply, CSeq number of the INVITE.
func ackFor(inv *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *inv.Recipient.Clone())
	ack.SipVersion = inv.SipVersion
	ack.AppendHeader(inv.Via().Clone())
	for _, h := range inv.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := res.To(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.CallID(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	if h := inv.Contact(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.SetBody(nil)
	ack.SetTransport(inv.Transport())
	ack.SetDestination(inv.Destination())
	ack.Laddr = inv.Laddr
	return ack
}
