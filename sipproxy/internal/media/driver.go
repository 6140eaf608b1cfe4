package media

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto"
	"sipmedia/sipproxy/internal/media/mediacfg"
	"sipmedia/sipproxy/internal/router"
)

// NG is what the driver needs from the daemon side: ngproto.Pool (or a
// single-daemon equivalent).
type NG interface {
	Do(ctx context.Context, req ngproto.Dict) (ngproto.Dict, error)
	// BackendFor reports whether (and where) a call has media set up.
	BackendFor(callID string) (string, bool)
	// AnyAlive reports whether some daemon answered its last health
	// check (or was never checked).
	AnyAlive() bool
}

// Config configures a Driver.
type Config struct {
	Matrix mediacfg.Matrix // zero: mediacfg.DefaultMatrix
	Logger *slog.Logger
	// DialogIdle forgets a call's orientation after this long without
	// signalling (its BYE may have been lost); default 12h.
	DialogIdle time.Duration
	// InfoDTMF: SIP INFO DTMF becomes play DTMF (InfoDTMF); the matrix
	// should carry inject-DTMF.
	InfoDTMF bool
}

// Counters are the driver's request counts (read with Load).
type Counters struct {
	Offers, Answers, Deletes, LateOffers, LateAnswers, Failures atomic.Int64
}

// Driver implements the router's media hooks on an NG pool.
type Driver struct {
	ng      NG
	flags   *mediacfg.Compiled
	log     *slog.Logger
	idle    time.Duration
	dtmf    bool // INFO DTMF is played into the media (Config.InfoDTMF)
	closer  io.Closer
	Counter Counters

	mu        sync.Mutex
	dialogs   map[string]*dialog
	lastSweep time.Time
}

// dialog remembers how a call is oriented: the caller's tag and which
// side is on WebSocket, so in-dialog requests (where the router has no
// SRC_WS/DST_WS) get the flags of their direction.
type dialog struct {
	callerTag          string
	callerWS, calleeWS bool
	lateOffer          bool   // an offer went out in a reply; the ACK (or a PRACK) answers it
	prackOffer         uint32 // CSeq of a PRACK whose SDP went out as an offer (its 2xx answers)
	ackIn, ackOut      string // the late answer as received and as sent
	last               time.Time
}

// New builds a driver on ng.
func New(ng NG, cfg Config) (*Driver, error) {
	if cfg.Matrix == (mediacfg.Matrix{}) {
		cfg.Matrix = mediacfg.DefaultMatrix()
	}
	fl, err := cfg.Matrix.Compile()
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DialogIdle <= 0 {
		cfg.DialogIdle = 12 * time.Hour
	}
	return &Driver{ng: ng, flags: fl, log: cfg.Logger, idle: cfg.DialogIdle, dtmf: cfg.InfoDTMF, dialogs: make(map[string]*dialog)}, nil
}

// Close closes the pool the driver was opened with (Open).
func (d *Driver) Close() error {
	if d.closer != nil {
		return d.closer.Close()
	}
	return nil
}

// Offer is branch_route[handle_nat]'s rtpengine_offer for an INVITE with
// SDP: req is the branch as it will be sent (our Via on top). f is the
// router's SRC_WS/DST_WS; in-dialog (re-INVITE) the remembered
// orientation wins, because the script sets SRC_WS only on initial
// requests.
//
// Beyond the seed, which engages the daemon for INVITEs only, an UPDATE
// with SDP is an offer too (RFC 3311), and so is a PRACK's SDP unless it
// answers a late offer made in the reliable provisional it acknowledges
// (RFC 3262 5): then it is that offer's answer, as an ACK's is. Left
// alone, either SDP would reach the other party unrewritten: media
// bypassing the daemon, or a browser given plain RTP.
func (d *Driver) Offer(ctx context.Context, req *sip.Request, f router.Flags) error {
	id, from, to := ids(req)
	if req.Method == sip.PRACK && d.lateOfferPending(id) {
		return d.lateAnswer(ctx, req)
	}
	initial := to == ""
	src, dst := f.SrcWS, f.DstWS
	if !initial {
		src, dst = d.orient(id, from, req)
	}
	ng := d.request("offer", d.flags.Offer[b2i(src)][b2i(dst)], id, from, to, req.Body(), req.Source())
	ng["via-branch"] = topBranch(req)
	addFamily(ng, req.Destination(), req.Body())
	if err := d.do(ctx, ng, req); err != nil {
		return err
	}
	d.Counter.Offers.Add(1)
	switch {
	case initial:
		d.remember(id, func(dl *dialog) {
			dl.callerTag, dl.callerWS, dl.calleeWS = from, src, dst
		})
	case req.Method == sip.PRACK:
		d.remember(id, func(dl *dialog) { dl.prackOffer = cseqOf(req) })
	default:
		d.touch(id)
	}
	return nil
}

// Reply is onreply_route[handle_nat] (rtpengine_manage for replies): a 1xx
// or 2xx with SDP is the answer to the INVITE's offer, or, when the INVITE
// had no SDP, a late offer sent with the tags swapped. inv is the branch
// INVITE as sent (our Via on top), res the reply being forwarded, whose
// body is rewritten in place.
//
// For an UPDATE or a PRACK (Offer) only a 2xx answers, and only when the
// request's SDP went out as an offer.
func (d *Driver) Reply(ctx context.Context, inv *sip.Request, res *sip.Response, f router.Flags) error {
	if res.StatusCode >= 300 || !hasSDP(res) {
		return nil
	}
	id, from, _ := ids(inv)
	if inv.Method != sip.INVITE {
		if res.StatusCode < 200 || !hasSDP(inv) || (inv.Method == sip.PRACK && !d.takePrackOffer(id, cseqOf(inv))) {
			return nil
		}
	}
	to := tagOf(res.To())
	initial := tagOf(inv.To()) == ""
	src, dst := f.SrcWS, f.DstWS
	if !initial {
		src, dst = d.orient(id, from, inv)
	}
	fl := d.flags.Answer[b2i(src)][b2i(dst)]
	if !hasSDP(inv) {
		// Late SDP: the callee offers; from-tag is always the offerer's.
		ng := d.request("offer", fl, id, to, from, res.Body(), res.Source())
		ng["via-branch"] = topBranch(inv)
		addFamily(ng, replyTarget(res), res.Body())
		if err := d.do(ctx, ng, res); err != nil {
			return err
		}
		d.Counter.LateOffers.Add(1)
		d.remember(id, func(dl *dialog) {
			if initial {
				dl.callerTag, dl.callerWS, dl.calleeWS = from, src, dst
			}
			dl.lateOffer = true
		})
		return nil
	}
	ng := d.request("answer", fl, id, from, to, res.Body(), res.Source())
	ng["via-branch"] = topBranch(inv)
	if err := d.do(ctx, ng, res); err != nil {
		return err
	}
	d.Counter.Answers.Add(1)
	if initial && res.StatusCode < 300 {
		// The answering branch decides the callee's transport (forks may
		// differ).
		d.remember(id, func(dl *dialog) { dl.calleeWS = dst })
	}
	return nil
}

// Ack is rtpengine_manage for an end-to-end ACK: with SDP after a late
// offer it is the answer, sent with the tags swapped.
func (d *Driver) Ack(ctx context.Context, req *sip.Request) error {
	if !hasSDP(req) {
		return nil
	}
	return d.lateAnswer(ctx, req)
}

// lateOfferPending: an offer went out in a reply and nothing answered it
// yet (or the call is unknown here, as Ack assumes).
func (d *Driver) lateOfferPending(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl := d.dialogs[id]
	return dl == nil || dl.lateOffer
}

// takePrackOffer reports whether the PRACK with CSeq n carried an offer,
// and forgets it.
func (d *Driver) takePrackOffer(id string, n uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl := d.dialogs[id]
	if dl == nil || dl.prackOffer == 0 || dl.prackOffer != n {
		return false
	}
	dl.prackOffer = 0
	return true
}

// lateAnswer sends req's SDP (an ACK's or a PRACK's, from the party that
// received the late offer) as the answer, tags swapped.
func (d *Driver) lateAnswer(ctx context.Context, req *sip.Request) error {
	id, from, to := ids(req)
	in := string(req.Body())
	d.mu.Lock()
	dl := d.dialogs[id]
	pending, resend := dl == nil || dl.lateOffer, ""
	if dl != nil {
		dl.lateOffer = false
		if !pending && dl.ackIn == in {
			resend = dl.ackOut
		}
	}
	d.mu.Unlock()
	if resend != "" {
		// A retransmitted ACK (after a 2xx retransmission) carries the
		// same answer: send what the first one carried.
		req.SetBody([]byte(resend))
		return nil
	}
	if !pending {
		return nil // no offer is waiting for this SDP
	}
	src, dst := d.orient(id, from, req)
	ng := d.request("answer", d.flags.Offer[b2i(src)][b2i(dst)], id, to, from, req.Body(), req.Source())
	if err := d.do(ctx, ng, req); err != nil {
		return err
	}
	d.Counter.LateAnswers.Add(1)
	d.remember(id, func(dl *dialog) { dl.ackIn, dl.ackOut = in, string(req.Body()) })
	return nil
}

// DeleteBranch deletes the leg of one failed branch of a forked INVITE:
// the caller's from-tag with the branch's via-branch, which rtpengine and
// mediad resolve to the party created by that branch's offer.
func (d *Driver) DeleteBranch(ctx context.Context, inv *sip.Request) error {
	if !hasSDP(inv) {
		return nil
	}
	id, from, _ := ids(inv)
	ng := ngproto.Dict{"command": "delete", "call-id": id, "from-tag": from, "via-branch": topBranch(inv), "flags": []any{"fast"}}
	if _, err := d.ng.Do(ctx, ng); err != nil {
		d.Counter.Failures.Add(1)
		return mapFailure(err, nil)
	}
	d.Counter.Deletes.Add(1)
	return nil
}

// Delete is rtpengine_delete for BYE and CANCEL, and the cleanup of an
// initial INVITE whose final reply failed. A failed re-INVITE keeps the
// call. A call this proxy never set media up for is not sent anywhere, so
// a failure without any daemon does not wait for one, except for a BYE
// while some daemon is alive: its call may have been set up before this
// proxy restarted, and the pool finds the daemon that holds it.
func (d *Driver) Delete(ctx context.Context, req *sip.Request) error {
	id, from, to := ids(req)
	if req.Method == sip.INVITE && to != "" {
		return nil
	}
	d.mu.Lock()
	_, known := d.dialogs[id]
	delete(d.dialogs, id)
	d.mu.Unlock()
	if _, ok := d.ng.BackendFor(id); !ok && !known && (req.Method != sip.BYE || !d.ng.AnyAlive()) {
		return nil
	}
	// "fast": no statistics in the reply; decoding them cost a fifth of
	// the proxy's CPU under load, and nothing here reads them.
	ng := ngproto.Dict{"command": "delete", "call-id": id, "from-tag": from, "flags": []any{"fast"}}
	reply, err := d.ng.Do(ctx, ng)
	if err != nil {
		d.Counter.Failures.Add(1)
		return mapFailure(err, nil)
	}
	d.Counter.Deletes.Add(1)
	if reply.Result() != "ok" {
		// "Call-ID not found" and the like: nothing left to clean.
		d.log.Debug("media delete", "call-id", id, "result", reply.Result(), "reason", reply.ReplyError())
	}
	return nil
}

// Dialogs is the number of calls whose orientation is remembered.
func (d *Driver) Dialogs() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dialogs)
}

// request builds an NG request: the flag keys, then what every module
// sends (ids, sdp, received-from, supports).
func (d *Driver) request(cmd string, flags ngproto.Dict, id, from, to string, sdp []byte, source string) ngproto.Dict {
	ng := make(ngproto.Dict, len(flags)+8)
	for k, v := range flags {
		ng[k] = v
	}
	ng["command"] = cmd
	ng["call-id"] = id
	ng["from-tag"] = from
	if to != "" {
		ng["to-tag"] = to
	}
	ng["sdp"] = string(sdp)
	ng["supports"] = []any{"load limit"}
	if ap, err := netip.ParseAddrPort(source); err == nil && ap.Addr().Zone() == "" {
		ip := ap.Addr().Unmap()
		ng["received-from"] = []any{ipFamily(ip), ip.String()}
	}
	return ng
}

// do runs ng and puts the returned SDP into msg.
func (d *Driver) do(ctx context.Context, ng ngproto.Dict, msg sip.Message) error {
	reply, err := d.ng.Do(ctx, ng)
	if err != nil || reply.Result() != "ok" {
		d.Counter.Failures.Add(1)
		return mapFailure(err, reply)
	}
	sdp := reply.Str("sdp")
	if sdp == "" {
		d.Counter.Failures.Add(1)
		return &Error{Code: 500, Reason: "Server Internal Error", Err: io.ErrUnexpectedEOF}
	}
	msg.SetBody([]byte(sdp))
	return nil
}

// orient returns SRC_WS/DST_WS for an in-dialog message sent by the party
// with tag from: the remembered orientation, or, for a call this proxy
// does not know, what the message's transports say.
func (d *Driver) orient(id, from string, m sip.Message) (src, dst bool) {
	d.mu.Lock()
	dl := d.dialogs[id]
	if dl != nil {
		dl.last = time.Now()
		src, dst = dl.callerWS, dl.calleeWS
		if from != dl.callerTag {
			src, dst = dst, src
		}
	}
	d.mu.Unlock()
	if dl != nil {
		return src, dst
	}
	return senderWS(m), isWS(transportOf(m))
}

func (d *Driver) remember(id string, set func(*dialog)) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	dl := d.dialogs[id]
	if dl == nil {
		dl = &dialog{}
		d.dialogs[id] = dl
		if now.Sub(d.lastSweep) > time.Minute {
			d.lastSweep = now
			for k, v := range d.dialogs {
				if now.Sub(v.last) > d.idle && v != dl {
					delete(d.dialogs, k)
				}
			}
		}
	}
	set(dl)
	dl.last = now
}

func (d *Driver) touch(id string) {
	d.mu.Lock()
	if dl := d.dialogs[id]; dl != nil {
		dl.last = time.Now()
	}
	d.mu.Unlock()
}

func cseqOf(req *sip.Request) uint32 {
	if h := req.CSeq(); h != nil {
		return h.SeqNo
	}
	return 0
}

func ids(req *sip.Request) (id, from, to string) {
	if h := req.CallID(); h != nil {
		id = h.Value()
	}
	return id, tagOf(req.From()), tagOf(req.To())
}

// tagOf returns the tag of a From or To header ("" when absent).
func tagOf(h interface{ Value() string }) string {
	switch v := h.(type) {
	case *sip.FromHeader:
		if v != nil {
			t, _ := v.Params.Get("tag")
			return t
		}
	case *sip.ToHeader:
		if v != nil {
			t, _ := v.Params.Get("tag")
			return t
		}
	}
	return ""
}

// topBranch is the branch of the top Via (ours on a forwarded INVITE).
func topBranch(req *sip.Request) string {
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}

// senderWS: the sender's Via (second, under ours; top on a message we
// did not prepare) says WS or WSS.
func senderWS(m sip.Message) bool {
	vias := m.GetHeaders("Via")
	var last sip.Header
	for i, h := range vias {
		last = h
		if i == 1 {
			break
		}
	}
	if last == nil {
		return false
	}
	v := strings.ToUpper(last.Value())
	return strings.HasPrefix(v, "SIP/2.0/WS")
}

func transportOf(m sip.Message) string {
	switch v := m.(type) {
	case *sip.Request:
		return v.Transport()
	case *sip.Response:
		return v.Transport()
	}
	return ""
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isWS(tp string) bool {
	tp = strings.ToUpper(tp)
	return tp == "WS" || tp == "WSS"
}

func hasSDP(m sip.Message) bool {
	if len(m.Body()) == 0 {
		return false
	}
	ct := m.GetHeaders("Content-Type")
	return len(ct) > 0 && strings.Contains(strings.ToLower(ct[0].Value()), "application/sdp")
}

// Open builds the pool and the driver from st. It returns nil, nil when no
// backend is configured (media control off). Close the driver when done.
func Open(st mediacfg.Settings, log *slog.Logger) (*Driver, error) {
	if len(st.Socks) == 0 {
		return nil, nil
	}
	var bs []ngproto.Backend
	for _, s := range st.Socks {
		b, err := mediacfg.ParseSock(s)
		if err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	var tlsConf *tls.Config
	if st.CAFile != "" {
		pem, err := os.ReadFile(st.CAFile)
		if err != nil {
			return nil, fmt.Errorf("media: --rtpengine-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("media: --rtpengine-ca %s: no PEM certificate", st.CAFile)
		}
		tlsConf = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	pool, err := ngproto.NewPool(bs, ngproto.PoolConfig{
		Client:       ngproto.ClientConfig{Retries: st.Retries, Interval: st.Timeout},
		PingInterval: st.PingInterval,
		PingTimeout:  st.Timeout,
		Logger:       log,
		TLS:          tlsConf,
	})
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	m := st.Matrix
	if st.InfoDTMF == mediacfg.InfoDTMFInject {
		m = m.With("inject-DTMF")
	}
	d, err := New(pool, Config{Matrix: m, Logger: log, InfoDTMF: st.InfoDTMF == mediacfg.InfoDTMFInject})
	if err != nil {
		_ = pool.Close()
		return nil, err
	}
	d.closer = pool
	return d, nil
}

var _ router.Media = (*Driver)(nil)
