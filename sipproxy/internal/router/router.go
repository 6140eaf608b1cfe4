// Package router owns the routing logic: the OpenSIPS residential script of
// the seed as an ordered chain of small named steps (one per script
// function, in the script's order), the stateful relay (t_relay with
// fr_timeout, Timer C and parallel forking), the SIP transactions of
// requests and branches over UDP (udpserver.go, udptx.go, finished.go;
// sipgo's serve the other transports), Record-Route/Route handling and the
// hooks where media control plugs in. It does not own sockets (transport)
// nor the location table (registrar).
package router

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/auth"
	"sipmedia/sipproxy/internal/overload"
	"sipmedia/sipproxy/internal/pike"
	"sipmedia/sipproxy/internal/registrar"
	"sipmedia/sipproxy/internal/transport"
)

// Result tells the chain whether to go on.
type Result int

const (
	// Next runs the following step.
	Next Result = iota
	// Stop ends routing: the step replied, relayed or dropped (the script's
	// exit).
	Stop
)

// Step is one script function. Serve may edit c and must return Stop once
// it has replied, relayed or decided to drop.
type Step interface {
	Name() string
	Serve(ctx context.Context, c *Ctx) Result
}

// Sockets is what the router needs from the transport layer.
type Sockets interface {
	Sockets() []transport.Socket
	FlowOpen(transport, addr string) bool
}

// Config holds the router's knobs. Zero timeouts take the seed's values.
type Config struct {
	Domains      []string
	FrTimeout    time.Duration
	FrInvTimeout time.Duration
	// Overload, when it says so, has new INVITEs over UDP refused with
	// 503 before any routing or media work (nil: never).
	Overload *overload.Detector
	// Auth, if set, authenticates REGISTERs and initial requests from
	// local users (the residential script's auth option).
	Auth *auth.Authenticator
	// Pike, if set, drops the requests of flooding sources before
	// anything else (Kamailio's REQINIT with pike; nil: off).
	Pike *pike.Guard
}

// Router runs the chain for every request sipgo hands it.
type Router struct {
	log     *slog.Logger
	cfg     Config
	txl     *sip.TransactionLayer
	tpl     *sip.TransportLayer
	sockets Sockets
	reg     *registrar.Registrar
	media   Media // nil: no media control
	me      *Myself
	steps   []Step
	udpTxs  udpTxs    // client transactions of branches over UDP (udptx.go)
	srvTxs  udpSrvTxs // server transactions of requests over UDP (udpserver.go)
	// handlers runs the chain for srvTxs (workers.go)
	handlers workers
	// transactions ended before sipgo would end them (finished.go)
	finishedSrv kept
	finishedCli kept
	ackedCli    kept                    // 2xx whose ACK has passed (ackpath.go)
	dialogs     *recent[*retransmitter] // relayed 2xx waiting for their ACK
	Metrics     Metrics

	// relayHook replaces relay in unit tests of single steps.
	relayHook func(ctx context.Context, c *Ctx)
	// resendHook and writeHook replace the transport in unit tests.
	resendHook func(m sip.Message, addr string)
	writeHook  func(req *sip.Request) error
}

// New builds the router and its chain.
func New(log *slog.Logger, cfg Config, txl *sip.TransactionLayer, socks Sockets, reg *registrar.Registrar, media Media) *Router {
	if cfg.FrTimeout <= 0 {
		cfg.FrTimeout = 5 * time.Second
	}
	if cfg.FrInvTimeout <= 0 {
		cfg.FrInvTimeout = 30 * time.Second
	}
	r := &Router{log: log, cfg: cfg, txl: txl, sockets: socks, reg: reg, media: media,
		finishedSrv: newKept(txKeep), finishedCli: newKept(txKeep), ackedCli: newKept(ackedKeep),
		dialogs: newRecent[*retransmitter](txKeep)}
	if txl != nil {
		r.tpl = txl.Transport()
	}
	r.me = NewMyself(socks, cfg.Domains)
	r.steps = r.chain()
	return r
}

// chain lists the steps in the seed script's order; the auth steps are
// there only when authentication is on (the script's auth option).
func (r *Router) chain() []Step {
	withAuth := func(s Step) Step {
		if r.cfg.Auth == nil {
			return nil
		}
		return s
	}
	all := []Step{
		maxFwd{r},              // mf_process_maxfwd_header("10")
		inDialog{r},            // has_totag(): loose_route() / t_check_trans() / 404
		cancelStep{r},          // is_method("CANCEL"): t_check_trans() && t_relay()
		relayPolicy{r},         // from_uri!=myself && uri!=myself -> 403
		withAuth(proxyAuth{r}), // from_uri==myself: proxy_authorize() else proxy_challenge(); $au==$fU; consume_credentials()
		preloadedRoute{r},      // loose_route() on an initial request -> 403
		recordRoute{r},         // record_route() unless REGISTER|MESSAGE
		outbound{r},            // uri!=myself -> P-hint: outbound, route(relay)
		publish503{r},          // PUBLISH|SUBSCRIBE -> 503
		srcWS{r},               // proto==WS|WSS -> setflag(SRC_WS)
		fixContact{r},          // fix_nated_contact()
		withAuth(wwwAuth{r}),   // REGISTER: www_authorize() else www_challenge(); $au==$tU
		register{r},            // setbflag(DST_WS), fix_nated_register(), save("location")
		emptyUser{r},           // $rU==NULL -> 484
		lookup{r},              // lookup("location","m") else 404
		relayStep{r},           // route(relay)
	}
	steps := all[:0]
	for _, s := range all {
		if s != nil {
			steps = append(steps, s)
		}
	}
	return steps
}

// StepNames lists the chain, for documentation and tests.
func (r *Router) StepNames() []string {
	out := make([]string, len(r.steps))
	for i, s := range r.steps {
		out[i] = s.Name()
	}
	return out
}

// Close lets the idle handler goroutines go (the transport has stopped:
// no new request comes).
func (r *Router) Close() { r.handlers.stop() }

// Myself exposes the "ours" check.
func (r *Router) Myself() *Myself { return r.me }

// Handle is the sipgo request handler. It blocks until routing of this
// request has finished (sipgo terminates the transaction on return).
func (r *Router) Handle(req *sip.Request, tx sip.ServerTransaction) {
	if r.cfg.Pike != nil && !r.cfg.Pike.Allow(req.Source()) {
		return // unanswered: the transaction ends with this call
	}
	r.serve(newCtx(r, req, tx))
}

// StatelessMethods are the methods HandleStateless may take: the ones
// the chain knows (others go to sipgo).
func (r *Router) StatelessMethods() []string {
	var out []string
	for _, m := range []sip.RequestMethod{sip.REGISTER, sip.ACK, sip.INVITE, sip.BYE, sip.CANCEL, sip.OPTIONS,
		sip.MESSAGE, sip.INFO, sip.UPDATE, sip.PRACK, sip.REFER, sip.NOTIFY, sip.SUBSCRIBE, sip.PUBLISH} {
		out = append(out, m.String())
	}
	return out
}

// HandleStateless routes a request read on UDP socket in, in the read
// loop, replying through send. A REGISTER for one of our domains outside
// any dialog, whose every outcome is a reply of ours, is answered without
// a transaction, as the seed script's save() does (sl_send_reply); an
// in-dialog ACK without body is relayed statelessly (ackpath.go); the
// rest gets a server transaction of the router's own and is routed on a
// goroutine (udpserver.go). It returns false, having done nothing, for a
// request without an RFC 3261 branch: sipgo takes those.
func (r *Router) HandleStateless(req *sip.Request, in transport.Socket, send transport.Replier) bool {
	if r.cfg.Pike != nil && !r.cfg.Pike.Allow(req.Source()) {
		return true // dropped before any transaction is made for it
	}
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil && !to.Params.Has("tag") && r.me.URI(&req.Recipient) {
			r.serve(r.statelessCtx(req, in, send))
			return true
		}
	}
	return r.serveUDP(req, in, send)
}

// statelessCtx is the routing state of a request taken without a
// transaction.
func (r *Router) statelessCtx(req *sip.Request, in transport.Socket, send transport.Replier) *Ctx {
	return &Ctx{r: r, Orig: req, Req: req, send: send, Proto: sip.NetworkToUpper(req.Transport()), Source: req.Source(), In: in}
}

func (r *Router) serve(c *Ctx) {
	req := c.Orig
	r.Metrics.Requests.Add(1)
	defer func() {
		if p := recover(); p != nil {
			r.Metrics.Panics.Add(1)
			r.log.Error("routing panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()), "call-id", c.callID())
			if !req.IsAck() {
				c.Reply(500, "Server Internal Error")
			}
		}
	}()
	if err := validate(req); err != nil {
		r.Metrics.BadRequests.Add(1)
		if !req.IsAck() {
			c.Reply(400, "Bad Request")
		}
		return
	}
	r.Route(context.Background(), c)
}

// Route runs the chain on c.
func (r *Router) Route(ctx context.Context, c *Ctx) {
	for i, s := range r.steps {
		c.ran = i + 1
		if s.Serve(ctx, c) == Stop {
			return
		}
	}
}

// validate rejects requests missing what every step relies on.
func validate(req *sip.Request) error {
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return fmt.Errorf("missing mandatory header")
	}
	if req.CSeq().MethodName != req.Method && !(req.IsAck() && req.CSeq().MethodName == sip.INVITE) {
		return fmt.Errorf("CSeq method %s differs from %s", req.CSeq().MethodName, req.Method)
	}
	if req.Recipient.Scheme != "sip" && req.Recipient.Scheme != "sips" {
		return fmt.Errorf("unsupported URI scheme %q", req.Recipient.Scheme)
	}
	return nil
}

// Ctx is the routing state of one request: the script's message plus its
// flags, $du and the branch set.
type Ctx struct {
	r    *Router
	Orig *sip.Request // as received; shared with the server transaction
	Req  *sip.Request // the message steps edit; the relay forwards clones of it
	Tx   sip.ServerTransaction

	// send replies without a transaction (HandleStateless); nil otherwise.
	send transport.Replier

	Proto  string           // UDP, TCP, TLS, WS, WSS as received
	Source string           // ip:port the request came from
	In     transport.Socket // receiving socket (zero when unknown)

	SrcWS       bool              // flag SRC_WS
	DstWS       bool              // branch flag DST_WS of the R-URI branch
	DstURI      *sip.Uri          // $du; nil: use the R-URI
	OutSocket   *transport.Socket // forced send socket (loose_route r2, lookup)
	Branches    []Branch          // extra parallel branches appended by lookup
	RecordRoute bool              // record_route() was called
	Replied     int               // status of the reply sent by a step, 0 if none
	ran         int               // steps run: r.steps[:ran] (Trace)
}

// Trace names the steps run on c, for tests and debug.
func (c *Ctx) Trace() []string { return c.r.StepNames()[:c.ran] }

// Branch is one destination of a relay.
type Branch struct {
	URI    sip.Uri  // R-URI of the branch
	Dst    *sip.Uri // destination ($du) or nil
	DstWS  bool
	Socket *transport.Socket
	Flow   bool // the destination is a registered connection flow
}

func newCtx(r *Router, req *sip.Request, tx sip.ServerTransaction) *Ctx {
	// Req is the received request itself, not a copy: every branch the
	// relay sends is a clone with our Via on top, so the responses sipgo
	// builds from the transaction's request (100, 487) never carry our Via;
	// the edits steps make here (Max-Forwards, our Route entries removed,
	// received=, P-hint, R-URI) do not matter for those responses.
	c := &Ctx{r: r, Orig: req, Req: req, Tx: tx, Proto: sip.NetworkToUpper(req.Transport()), Source: req.Source()}
	if st, ok := tx.(*sip.ServerTx); ok && st.Connection() != nil && st.Connection().LocalAddr() != nil {
		c.In = r.socketFor(c.Proto, st.Connection().LocalAddr().String())
	}
	if c.In.Proto == "" {
		c.In = r.firstSocket(c.Proto)
	}
	return c
}

func (c *Ctx) callID() string {
	if h := c.Orig.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// Reply answers the request statefully (sl_send_reply / t_reply).
func (c *Ctx) Reply(code int, reason string) {
	c.ReplyWith(sip.NewResponseFromRequest(c.Orig, code, reason, nil))
}

// ReplyWith sends a prepared response.
func (c *Ctx) ReplyWith(res *sip.Response) { c.replyWith(res, nil) }

// replyWith is ReplyWith with res already serialised as wire, or nil;
// wire is used by the router's own UDP server transactions only.
func (c *Ctx) replyWith(res *sip.Response, wire []byte) {
	c.Replied = res.StatusCode
	c.r.Metrics.reply(res.StatusCode)
	if c.Tx == nil && c.send == nil {
		return
	}
	if c.Proto == "UDP" {
		res.SetDestination(replyAddr(c.Orig))
	}
	if c.send != nil {
		if err := c.send.Reply(res); err != nil {
			c.r.Metrics.SendFailures.Add(1)
			c.r.log.Debug("stateless reply failed", "code", res.StatusCode, "error", err, "call-id", c.callID())
		}
		return
	}
	var err error
	if tx, ok := c.Tx.(*udpServerTx); ok && wire != nil {
		err = tx.respond(res, wire)
	} else {
		err = c.Tx.Respond(res)
	}
	if err != nil {
		c.r.log.Debug("reply failed", "code", res.StatusCode, "error", err, "call-id", c.callID())
	}
}

// replyAddr is where a UDP response goes: the source IP with the rport or
// the Via port (RFC 3261 18.2.2, RFC 3581).
func replyAddr(req *sip.Request) string {
	src := req.Source()
	host, port, err := net.SplitHostPort(src)
	if err != nil {
		return src
	}
	via := req.Via()
	if via == nil {
		return src
	}
	if _, ok := via.Params.Get("rport"); ok {
		return src
	}
	p := via.Port
	if p == 0 {
		p = 5060
	}
	_ = port
	return net.JoinHostPort(host, strconv.Itoa(p))
}

func (r *Router) socketFor(proto, laddr string) transport.Socket {
	for _, s := range r.sockets.Sockets() {
		if s.Transport() == proto && s.Addr() == laddr {
			return s
		}
	}
	return transport.Socket{}
}

func (r *Router) firstSocket(proto string) transport.Socket {
	for _, s := range r.sockets.Sockets() {
		if s.Transport() == proto {
			return s
		}
	}
	return transport.Socket{}
}
