package router

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/nat"
	"sipmedia/sipproxy/internal/transport"
)

// relay is route(relay) + t_relay(): statefully forward c.Req to every
// branch in parallel, relay provisional replies, the first and any further
// 2xx at once and the best final reply when every branch has ended
// (RFC 3261 16.7). fr_timeout ends a branch that got no reply (for INVITE:
// no provisional); Timer C (fr_inv_timeout, from the first provisional)
// cancels the branch and answers 408. An ACK is forwarded statelessly.
func (r *Router) relay(ctx context.Context, c *Ctx) {
	if r.relayHook != nil {
		r.relayHook(ctx, c)
		return
	}
	if c.send != nil && !c.Req.IsAck() {
		// HandleStateless only takes requests we answer ourselves and
		// ACKs, which are relayed statelessly anyway.
		r.log.Error("relay of a request taken without a transaction", "method", c.Req.Method.String(), "call-id", c.callID())
		c.Reply(500, "Server Internal Error")
		return
	}
	req := c.Req
	if r.media != nil && (req.Method == sip.BYE || req.Method == sip.CANCEL) {
		if err := r.media.Delete(ctx, req); err != nil {
			r.log.Warn("media delete", "error", err, "call-id", c.callID())
		}
	}
	addReceived(req, c.Source)
	if req.IsAck() {
		if r.media != nil && hasSDP(req) {
			if err := r.media.Ack(ctx, req); err != nil {
				r.log.Warn("media ACK answer", "error", err, "call-id", c.callID())
			}
		}
		r.relayAck(c)
		return
	}
	branches := c.Branches
	if len(branches) == 0 {
		branches = []Branch{{URI: req.Recipient, Dst: c.DstURI, DstWS: c.DstWS, Socket: c.OutSocket}}
	}
	if req.IsInvite() && c.Tx != nil {
		// t_relay sends 100 Trying at once for INVITE; sipgo's own one
		// comes only after 200 ms, which under load lets UDP callers
		// retransmit.
		c.Reply(100, "Trying")
	}
	r.Metrics.Relayed.Add(1)
	r.Metrics.ActiveTx.Add(1)
	defer r.Metrics.ActiveTx.Add(-1)
	run := &relayRun{r: r, c: c, ctx: ctx}
	run.run(branches)
	for _, st := range run.brs {
		r.finishClient(st)
	}
}

// addReceived adds received= to the top Via when its host is not the
// packet source IP (RFC 3261 18.2.1) and fills an empty rport (RFC 3581).
func addReceived(req *sip.Request, source string) {
	via := req.Via()
	host, port, err := net.SplitHostPort(source)
	if via == nil || err != nil {
		return
	}
	if v, ok := via.Params.Get("rport"); ok && v == "" {
		via.Params.Add("rport", port)
		via.Params.Add("received", host)
		return
	}
	if strings.Trim(via.Host, "[]") != host {
		via.Params.Add("received", host)
	}
}

// transportOf returns the SIP transport a URI asks for.
func transportOf(u *sip.Uri) string {
	tp := "UDP"
	if v, ok := u.UriParams.Get("transport"); ok && v != "" {
		tp = strings.ToUpper(v)
	}
	if u.Scheme == "sips" && tp == "UDP" || u.Scheme == "sips" && tp == "TCP" {
		tp = "TLS"
	}
	return tp
}

func defaultPort(tp string) int {
	switch tp {
	case "TLS":
		return 5061
	case "WS":
		return 80
	case "WSS":
		return 443
	}
	return 5060
}

// branchError is a branch that could not be sent, with its local reply.
type branchError struct {
	code   int
	reason string
}

func (e *branchError) Error() string { return strconv.Itoa(e.code) + " " + e.reason }

var (
	errNoSocket   = &branchError{477, "Send failed"}
	errSendFailed = &branchError{477, "Send failed"}
	errFlowFailed = &branchError{480, "Temporarily Unavailable"}
)

// pickSocket chooses the sending socket for transport tp.
func (r *Router) pickSocket(c *Ctx, forced *transport.Socket, tp string, dstHost string) (transport.Socket, bool) {
	if forced != nil && forced.Transport() == tp {
		return *forced, true
	}
	if c.In.Transport() == tp {
		return c.In, true
	}
	v6 := strings.Contains(dstHost, ":")
	var any *transport.Socket
	for _, s := range r.sockets.Sockets() {
		if s.Transport() != tp {
			continue
		}
		if strings.Contains(s.IP, ":") == v6 {
			return s, true
		}
		if any == nil {
			s := s
			any = &s
		}
	}
	if any != nil {
		return *any, true
	}
	return transport.Socket{}, false
}

// prepare builds the request for branch b: R-URI, Record-Route, our Via,
// transport and destination.
func (r *Router) prepare(c *Ctx, b Branch) (*sip.Request, transport.Socket, error) {
	out := c.Req
	if c.send == nil {
		// A request taken with a transaction is shared with it; one taken
		// statelessly (HandleStateless) is ours alone.
		out = c.Req.Clone()
	}
	out.Recipient = *b.URI.Clone()
	dst := b.Dst
	if dst == nil {
		dst = &out.Recipient
	}
	tp := transportOf(dst)
	if f := b.Socket; f != nil && (tp == "WS" && f.Transport() == "WSS" || tp == "TCP" && f.Transport() == "TLS") {
		// A browser's Contact says transport=ws even over WSS: the socket
		// fixed by the double Record-Route (or the registration) wins.
		tp = f.Transport()
	}
	port := dst.Port
	if port == 0 {
		port = defaultPort(tp)
	}
	host := strings.Trim(dst.Host, "[]")
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	sock, ok := r.pickSocket(c, b.Socket, tp, host)
	if !ok {
		return nil, sock, errNoSocket
	}
	if b.Flow && !r.sockets.FlowOpen(tp, addr) {
		return nil, sock, errFlowFailed
	}
	if c.RecordRoute {
		addRecordRoute(out, c.In, sock)
	}
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: tp,
		Host: sock.IP, Port: sock.Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	out.PrependHeader(via)
	out.SetTransport(tp)
	out.SetDestination(addr)
	out.Laddr = sip.Addr{}
	if tp == "UDP" {
		// Send from the listener itself, not from a new ephemeral socket.
		out.Laddr = sip.Addr{IP: net.ParseIP(sock.IP), Port: sock.Port}
	}
	return out, sock, nil
}

// relayAck forwards an end-to-end ACK statelessly.
func (r *Router) relayAck(c *Ctx) {
	r.ackSeen(c.Req)
	out, _, err := r.prepare(c, Branch{URI: c.Req.Recipient, Dst: c.DstURI, DstWS: c.DstWS, Socket: c.OutSocket})
	if err != nil {
		r.Metrics.SendFailures.Add(1)
		return
	}
	r.Metrics.Stateless.Add(1)
	if err := r.tpl.WriteMsg(out); err != nil {
		r.Metrics.SendFailures.Add(1)
		r.log.Debug("ACK send failed", "error", err, "call-id", c.callID())
	}
}

// HandleStrayResponse forwards a response no client transaction matches
// (typically a 2xx retransmission after the transaction ended) statelessly
// along its Via, if the top Via is ours.
func (r *Router) HandleStrayResponse(res *sip.Response) {
	if r.absorbResponse(res) {
		return
	}
	via := res.Via()
	if via == nil || !r.me.Host(via.Host, via.Port, via.Transport) {
		return
	}
	fwd := res.Clone()
	fwd.RemoveHeader("Via")
	next := fwd.Via()
	if next == nil {
		return
	}
	host := next.Host
	if v, ok := next.Params.Get("received"); ok && v != "" {
		host = v
	}
	port := next.Port
	if v, ok := next.Params.Get("rport"); ok && v != "" {
		port, _ = strconv.Atoi(v)
	}
	if port == 0 {
		port = defaultPort(strings.ToUpper(next.Transport))
	}
	addr := net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
	fwd.SetDestination(addr)
	if err := r.tpl.WriteMsgTo(fwd, addr, next.Transport); err != nil {
		r.log.Debug("stray response not forwarded", "error", err)
	}
}

type evKind int

const (
	evResponse evKind = iota
	evDone
	evFrTimer
	evTimerC
	evCancel
)

type event struct {
	kind   evKind
	i      int
	res    *sip.Response
	err    error
	cancel *sip.Request // the upstream CANCEL (evCancel)
}

type branchState struct {
	req          *sip.Request
	tx           interface{ Terminate() } // sipgo's or utx
	utx          *udpClientTx             // the branch goes over UDP
	flags        Flags
	prov         bool
	final        int
	cancelWanted bool
	cancelSent   bool
	fr, timerC   *time.Timer
	retx         *retransmitter // INVITE: resends the processed 2xx
}

// retransmitter resends the processed 2xx upstream when the UAS
// retransmits its 2xx (sipgo's client transaction hook).
type retransmitter struct {
	r           *Router
	addr, proto string // where the request came from
	mu          sync.Mutex
	sent2xx     *sip.Response // guarded by mu (read from sipgo's goroutine)
	rec         *bytes.Buffer // sent2xx's record for finishedCli, if built when sent; guarded by mu
	dialog      string        // dialogKey of sent2xx (UDP branches), guarded by mu
	acked       bool          // its ACK has been relayed, guarded by mu
	branch      string        // our Via branch (UDP branches)
}

// cancelHook passes the upstream CANCEL to the relay while it runs.
type cancelHook struct{ run atomic.Pointer[relayRun] }

func (h *cancelHook) cancel(cr *sip.Request) {
	if run := h.run.Load(); run != nil {
		go run.send(event{kind: evCancel, cancel: cr})
	}
}

type relayRun struct {
	r   *Router
	c   *Ctx
	ctx context.Context

	brs       []*branchState
	events    chan event // timers, sipgo goroutines (send), UDP read loop (post)
	done      chan struct{}
	answered  bool
	cancelled bool
	best      *sip.Response
	bestLocal *branchError
}

func (run *relayRun) send(e event) {
	select {
	case run.events <- e:
	case <-run.done:
	}
}

// eventsSize bounds the events waiting for a relay, per branch (up to 8
// branches); beyond it a response from the UDP read loop is dropped as the
// network could have (the UAS retransmits finals). A branch rarely has
// more than two (a provisional and the final) waiting at once.
const eventsSize = 8

// tryPost passes an event from the UDP read loop without ever blocking
// it; false: the relay's inbox (eventsSize per branch) is full.
func (run *relayRun) tryPost(e event) bool {
	select {
	case run.events <- e:
		return true
	default:
		return false
	}
}

func (run *relayRun) run(branches []Branch) {
	r, c := run.r, run.c
	run.events = make(chan event, eventsSize*min(max(len(branches), 1), 8))
	run.done = make(chan struct{})
	defer close(run.done)
	invite := c.Req.IsInvite()
	var (
		oneResp <-chan *sip.Response // the only branch's, read by the loop
		oneDone <-chan struct{}
		oneTx   sip.ClientTransaction
	)

	for i, b := range branches {
		st := &branchState{flags: Flags{SrcWS: c.SrcWS, DstWS: b.DstWS}}
		run.brs = append(run.brs, st)
		out, _, err := r.prepare(c, b)
		if err != nil {
			run.localFinal(st, err)
			continue
		}
		if r.media != nil && carriesOffer(c.Req.Method) && hasSDP(out) {
			if err := r.media.Offer(run.ctx, out, st.flags); err != nil {
				r.log.Warn("media offer", "error", err, "call-id", c.callID())
				run.localFinal(st, mediaStatus(err))
				continue
			}
		}
		st.req = out
		var rt *retransmitter
		if invite {
			// The hook may outlive the relay (sipgo keeps its transaction
			// 64*T1 after a 2xx), so it holds only what it resends.
			rt = &retransmitter{r: r, addr: c.Source, proto: c.Proto}
			if c.Proto == "UDP" {
				rt.addr = replyAddr(c.Orig)
			}
			st.retx = rt
		}
		if out.Transport() == "UDP" {
			utx, err := r.startUDPTx(run, i, out)
			if err != nil {
				r.Metrics.SendFailures.Add(1)
				r.log.Debug("branch send failed", "error", err, "call-id", c.callID())
				run.localFinal(st, errSendFailed)
				continue
			}
			if rt != nil {
				rt.branch = utx.key
			}
			utx.mu.Lock()
			utx.retx = rt
			utx.mu.Unlock()
			st.tx, st.utx = utx, utx
		} else {
			tx, err := r.txl.Request(run.ctx, out)
			if err != nil {
				r.Metrics.SendFailures.Add(1)
				r.log.Debug("branch send failed", "error", err, "call-id", c.callID())
				run.localFinal(st, errSendFailed)
				continue
			}
			st.tx = tx
			if rt != nil {
				tx.OnRetransmission(rt.retransmit2xx)
			}
			if oneTx == nil {
				// The loop below reads one sipgo transaction itself,
				// without a goroutine and a hand-off per response.
				oneResp, oneDone, oneTx = tx.Responses(), tx.Done(), tx
			} else {
				go run.read(i, tx)
			}
		}
		i := i
		st.fr = time.AfterFunc(r.cfg.FrTimeout, func() { run.send(event{kind: evFrTimer, i: i}) })
	}
	if invite && c.Tx != nil {
		// Like the retransmission hook, this one stays with sipgo's
		// transaction after the relay: it reaches the relay only while
		// it runs.
		hook := &cancelHook{}
		hook.run.Store(run)
		defer hook.run.Store(nil)
		c.Tx.OnCancel(hook.cancel)
	}
	for !run.allFinal() {
		select {
		case e := <-run.events:
			run.handle(e)
		case res := <-oneResp:
			if res.StatusCode >= 200 {
				oneResp, oneDone = nil, nil
			}
			run.handle(event{kind: evResponse, i: 0, res: res})
		case <-oneDone:
			oneResp, oneDone = nil, nil
			run.handle(event{kind: evDone, i: 0, err: oneTx.Err()})
		}
	}
	for _, st := range run.brs {
		st.stopTimers()
	}
	if !run.answered && !run.cancelled {
		run.replyBest()
	}
	if invite && !run.answered && r.media != nil {
		// rtpengine_manage on a failed final reply: nothing of the call's
		// media may stay (the media step ignores failed re-INVITEs).
		if err := r.media.Delete(run.ctx, c.Req); err != nil {
			r.log.Warn("media delete", "error", err, "call-id", c.callID())
		}
	}
}

// read passes a branch's responses to the relay loop until its final one.
func (run *relayRun) read(i int, tx sip.ClientTransaction) {
	for {
		select {
		case res := <-tx.Responses():
			run.send(event{kind: evResponse, i: i, res: res})
			if res.StatusCode >= 200 {
				return
			}
		case <-tx.Done():
			run.send(event{kind: evDone, i: i, err: tx.Err()})
			return
		case <-run.done:
			return
		}
	}
}

func (run *relayRun) allFinal() bool {
	for _, st := range run.brs {
		if st.final == 0 {
			return false
		}
	}
	return true
}

func (st *branchState) stopTimers() {
	if st.fr != nil {
		st.fr.Stop()
	}
	if st.timerC != nil {
		st.timerC.Stop()
	}
}

func (run *relayRun) handle(e event) {
	r := run.r
	if e.kind == evCancel {
		// CANCEL is consumed by sipgo's transaction layer, so route(relay)
		// never sees it: its rtpengine_delete() runs here.
		if r.media != nil && e.cancel != nil {
			if err := r.media.Delete(run.ctx, e.cancel); err != nil {
				r.log.Warn("media delete", "error", err, "call-id", run.c.callID())
			}
		}
		run.cancelled = true
		for _, st := range run.brs {
			run.cancelBranch(st)
		}
		return
	}
	st := run.brs[e.i]
	if st.final != 0 {
		return // late event of a finished branch
	}
	switch e.kind {
	case evResponse:
		res := e.res
		if res.StatusCode < 200 {
			if st.fr != nil && run.c.Req.IsInvite() {
				st.fr.Stop() // for INVITE fr_timeout waits for the first provisional only
			}
			if !st.prov {
				st.prov = true
				if run.c.Req.IsInvite() {
					i := e.i
					st.timerC = time.AfterFunc(r.cfg.FrInvTimeout, func() { run.send(event{kind: evTimerC, i: i}) })
				}
			}
			if st.cancelWanted {
				run.cancelBranch(st)
			}
			if res.StatusCode > 100 && !run.answered && !run.cancelled {
				run.forward(st, res)
			}
			return
		}
		st.final = res.StatusCode
		st.stopTimers()
		if res.StatusCode < 300 {
			run.answered = true
			run.forward(st, res)
			if run.c.Req.IsInvite() {
				for _, o := range run.brs {
					if o != st {
						run.cancelBranch(o)
					}
				}
			}
			return
		}
		run.consider(res)
		run.branchFailed(st)
	case evDone:
		err := &branchError{408, "Request Timeout"}
		if e.err != nil && !errors.Is(e.err, sip.ErrTransactionTimeout) {
			err = errSendFailed
		}
		run.localFinal(st, err)
	case evFrTimer:
		if run.c.Req.IsInvite() && st.prov {
			return
		}
		if run.c.Req.IsInvite() {
			run.cancelBranch(st)
		}
		r.Metrics.FrTimeouts.Add(1)
		run.localFinal(st, &branchError{408, "Request Timeout"})
		if st.tx != nil {
			st.tx.Terminate()
		}
	case evTimerC:
		r.Metrics.TimerC.Add(1)
		run.cancelBranch(st)
		run.localFinal(st, &branchError{408, "Request Timeout"})
	}
}

// localFinal ends a branch with a reply of our own.
func (run *relayRun) localFinal(st *branchState, be error) {
	st.stopTimers()
	var e *branchError
	if !errors.As(be, &e) {
		e = errSendFailed
	}
	st.final = e.code
	if cur := run.bestCode(); cur == 0 || better(e.code, cur) {
		run.best, run.bestLocal = nil, e
	}
	run.branchFailed(st)
}

// branchFailed drops the media leg of a forked INVITE's branch that failed
// while another branch answered or may still: the daemon keeps a call
// while an unanswered branch's party remains (rtpengine 10.5 does), so
// without this the call outlived the BYE. When every branch fails, the
// INVITE's failure deletes the whole call instead.
func (run *relayRun) branchFailed(st *branchState) {
	if run.r.media == nil || !run.c.Req.IsInvite() || len(run.brs) < 2 || st.req == nil || !hasSDP(st.req) {
		return
	}
	for _, o := range run.brs {
		if o != st && (o.final == 0 || o.final < 300) {
			if err := run.r.media.DeleteBranch(run.ctx, st.req); err != nil {
				run.r.log.Warn("media delete of a failed branch", "error", err, "call-id", run.c.callID())
			}
			return
		}
	}
}

func (run *relayRun) bestCode() int {
	if run.best != nil {
		return run.best.StatusCode
	}
	if run.bestLocal != nil {
		return run.bestLocal.code
	}
	return 0
}

// consider keeps the best final non-2xx reply so far (RFC 3261 16.7 6).
func (run *relayRun) consider(res *sip.Response) {
	if cur := run.bestCode(); cur == 0 || better(res.StatusCode, cur) {
		run.best, run.bestLocal = res, nil
	}
}

// better reports whether code a beats b: any 6xx wins, otherwise the
// lowest class; ties keep the first.
func better(a, b int) bool {
	if b/100 == 6 {
		return false
	}
	if a/100 == 6 {
		return true
	}
	return a/100 < b/100
}

func (run *relayRun) replyBest() {
	if run.best != nil {
		if run.best.StatusCode == 503 {
			run.c.Reply(500, "Server Internal Error") // RFC 3261 16.7 6
			return
		}
		run.forward(nil, run.best)
		return
	}
	e := run.bestLocal
	if e == nil {
		e = errSendFailed
	}
	run.c.Reply(e.code, e.reason)
}

// forward relays a downstream response upstream: our Via removed, then
// onreply_route[handle_nat] for INVITE (fix_nated_contact, media answer).
func (run *relayRun) forward(st *branchState, res *sip.Response) {
	fwd := run.r.prepareResponse(run.ctx, run.c, st, res)
	if fwd == nil {
		return
	}
	if st == nil || st.retx == nil || res.StatusCode < 200 || res.StatusCode >= 300 {
		run.c.ReplyWith(fwd)
		return
	}
	rt := st.retx
	rt.mu.Lock()
	rt.sent2xx = fwd
	if st.utx != nil && rt.dialog == "" {
		// Known before the caller can ACK it (ackpath.go).
		rt.dialog = dialogKey(fwd)
		run.r.dialogs.put(rt.dialog, rt)
	}
	rt.mu.Unlock()
	if _, ours := run.c.Tx.(*udpServerTx); !ours || st.utx == nil {
		run.c.ReplyWith(fwd)
		return
	}
	// Both transactions are the router's own over UDP: the 2xx is
	// serialised once, into what the client transaction keeps for the
	// UAS's retransmissions (finished.go), and sent from there. The
	// record is handed over only once sent: keeping it returns the buffer
	// to its pool.
	rec, wire := rt.record(st.req.Method, fwd)
	run.c.replyWith(fwd, wire)
	rt.mu.Lock()
	rt.rec = rec
	rt.mu.Unlock()
}

func (r *Router) prepareResponse(ctx context.Context, c *Ctx, st *branchState, res *sip.Response) *sip.Response {
	fwd := res
	if st == nil || st.utx == nil {
		// sipgo's client transaction keeps the response it passed up; a
		// UDP branch's own transaction does not (udptx.go), so that one
		// is edited in place.
		fwd = res.Clone()
	}
	fwd.RemoveHeader("Via")
	if fwd.Via() == nil {
		return nil
	}
	m := c.Req.Method
	if m == sip.INVITE || m == sip.UPDATE {
		// Both refresh the target (RFC 3311 5.2), so the reply's Contact
		// is fixed as the seed fixes INVITE replies.
		if _, err := nat.FixContact(fwd, res.Source()); err != nil {
			r.log.Debug("fix_nated_contact on reply", "error", err)
		}
	}
	if r.media != nil && st != nil && carriesOffer(m) && res.StatusCode < 300 && hasSDP(fwd) {
		if err := r.media.Reply(ctx, st.req, fwd, st.flags); err != nil {
			r.log.Warn("media reply", "error", err, "call-id", c.callID())
		}
	}
	return fwd
}

// carriesOffer: requests whose SDP goes through the media daemon (the
// seed's INVITE, and UPDATE and PRACK, whose SDP would otherwise reach
// the other party unrewritten), and whose replies' SDP does.
func carriesOffer(m sip.RequestMethod) bool {
	return m == sip.INVITE || m == sip.UPDATE || m == sip.PRACK
}

// record builds what the client transaction keeps of the relayed 2xx
// fwd (finished.go), and returns with it fwd's bytes on the wire.
func (rt *retransmitter) record(method sip.RequestMethod, fwd *sip.Response) (*bytes.Buffer, []byte) {
	return clientRecord(method, fwd, rt.addr, rt.proto, "")
}

// take returns the processed 2xx and its record if it was built when
// sent (else nil), forgetting both, and whether its ACK has passed.
func (rt *retransmitter) take() (*sip.Response, *bytes.Buffer, bool) {
	if rt == nil {
		return nil, nil, false
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	fwd, rec := rt.sent2xx, rt.rec
	rt.sent2xx, rt.rec = nil, nil
	return fwd, rec, rt.acked
}

// retransmit2xx resends the processed 2xx when the downstream UAS
// retransmits it (runs on a sipgo goroutine).
func (rt *retransmitter) retransmit2xx(res *sip.Response) {
	if res.StatusCode < 200 || res.StatusCode >= 300 {
		return
	}
	rt.mu.Lock()
	fwd := rt.sent2xx
	rt.mu.Unlock()
	if fwd == nil {
		return
	}
	if err := rt.r.tpl.WriteMsgTo(fwd, rt.addr, rt.proto); err != nil {
		rt.r.log.Debug("2xx retransmission not relayed", "error", err)
	}
}

// cancelBranch sends CANCEL downstream once the branch has a provisional
// reply (RFC 3261 9.1), or marks it to be sent when one arrives.
func (run *relayRun) cancelBranch(st *branchState) {
	if st.final != 0 || st.cancelSent || st.tx == nil {
		return
	}
	if !st.prov {
		st.cancelWanted = true
		return
	}
	st.cancelSent = true
	cr := cancelFor(st.req)
	tx, err := run.r.txl.Request(context.Background(), cr)
	if err != nil {
		run.r.log.Debug("CANCEL send failed", "error", err)
		return
	}
	go func() {
		for {
			select {
			case <-tx.Responses():
			case <-tx.Done():
				return
			}
		}
	}()
}

// cancelFor builds the CANCEL for a forwarded INVITE: same R-URI, top Via,
// Route set, Call-ID, From, To and CSeq number (RFC 3261 9.1).
func cancelFor(inv *sip.Request) *sip.Request {
	cr := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	cr.AppendHeader(inv.Via().Clone())
	for _, h := range inv.GetHeaders("Route") {
		cr.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	cr.AppendHeader(&mf)
	cr.AppendHeader(sip.HeaderClone(inv.From()))
	cr.AppendHeader(sip.HeaderClone(inv.To()))
	cr.AppendHeader(sip.HeaderClone(inv.CallID()))
	cr.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cr.SetBody(nil)
	cr.SetTransport(inv.Transport())
	cr.SetDestination(inv.Destination())
	cr.Laddr = inv.Laddr
	return cr
}

func hasSDP(m sip.Message) bool {
	if len(m.Body()) == 0 {
		return false
	}
	ct := m.GetHeaders("Content-Type")
	return len(ct) > 0 && strings.Contains(strings.ToLower(ct[0].Value()), "application/sdp")
}
