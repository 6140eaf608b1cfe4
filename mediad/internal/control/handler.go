// Package control owns mediad's NG command handlers: it turns an NG
// request dictionary into a call registry operation and the result into
// rtpengine's reply dictionary, with rtpengine's exact error strings
// (errors.go). It does no framing (ngproto) and holds no call state
// (call).
package control

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// CLIRunner runs one CLI command and returns its text output (package cli).
type CLIRunner interface {
	Run(ctx context.Context, command string) string
}

// Handler serves NG requests. It implements ngproto.Handler.
type Handler struct {
	reg   *call.Registry
	cli   CLIRunner
	log   *slog.Logger
	stats *ctlStats
}

var _ ngproto.Handler = (*Handler)(nil)

// NewHandler builds the NG handler. cli may be nil (the cli command then
// answers with an error).
func NewHandler(reg *call.Registry, cli CLIRunner, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{reg: reg, cli: cli, log: log, stats: newCtlStats()}
}

// SetCLI sets the runner of the NG cli command (the CLI is built after
// the handler in the daemon). Call it before serving.
func (h *Handler) SetCLI(cli CLIRunner) { h.cli = cli }

// notSupported are the commands rtpengine 10.5 knows that mediad does not
// implement (daemon/control_ng.c); commands of later rtpengines are
// "Unrecognized command", as in 10.5.
var notSupported = map[string]bool{}

// ServeNG handles one decoded request.
func (h *Handler) ServeNG(ctx context.Context, d ngproto.Dict, from netip.AddrPort) ngproto.Dict {
	start := time.Now()
	req, err := ngproto.ParseRequest(d)
	if err != nil {
		h.log.Warn("bad NG request", "from", from, "err", err)
		h.stats.record(from, "", time.Since(start), true)
		return ngproto.ErrorReply(ngproto.Reason(err))
	}
	// As rtpengine: each command and its reply at info, a failure at
	// warning (guarded: boxing the arguments costs an allocation per
	// request even when the level is off).
	info := h.log.Enabled(ctx, slog.LevelInfo)
	debug := h.log.Enabled(ctx, slog.LevelDebug)
	if info {
		h.log.Info("Received command", "command", req.Command, "from", from, "call-id", req.CallID)
	}
	if debug {
		h.log.Debug("Dump for '"+req.Command+"'", "from", from, "call-id", req.CallID, "dump", d.Pretty())
	}
	reply := h.dispatch(ctx, req, from)
	isErr := reply.Str("result") == "error"
	elapsed := time.Since(start)
	h.stats.record(from, req.Command, elapsed, isErr)
	if isErr { // rtpengine logs no reply to an error
		h.log.Warn("Protocol error", "command", req.Command, "from", from, "call-id", req.CallID, "reason", reply.Str("error-reason"))
		return reply
	}
	if info {
		h.log.Info("Replying", "command", req.Command, "from", from, "call-id", req.CallID, "elapsed", elapsed)
	}
	if debug {
		h.log.Debug("Response dump for '"+req.Command+"'", "to", from, "call-id", req.CallID, "dump", reply.Pretty())
	}
	return reply
}

func (h *Handler) dispatch(ctx context.Context, req *ngproto.Request, from netip.AddrPort) ngproto.Dict {
	switch req.Command {
	case "ping":
		return ngproto.Pong()
	case "offer":
		return h.offerAnswer(req, from, false)
	case "answer":
		return h.offerAnswer(req, from, true)
	case "delete":
		return h.delete(req)
	case "query":
		return h.query(req)
	case "list":
		return h.list(req)
	case "statistics":
		return h.statistics()
	case "cli", "CLI":
		return h.runCLI(ctx, req)
	case "play DTMF":
		return h.playDTMF(req)
	case "play media":
		return h.playMedia(req)
	case "stop media":
		return h.stopMedia(req)
	case "publish":
		return h.publish(req, from)
	case "subscribe request":
		return h.subscribeRequest(req)
	case "subscribe answer":
		return h.subscribeAnswer(req)
	case "unsubscribe":
		return h.unsubscribe(req)
	}
	if on, ok := recordCommands[req.Command]; ok {
		return h.record(req, on)
	}
	if on, ok := forwardCommands[req.Command]; ok {
		return h.forward(req, on)
	}
	if _, ok := blockCommands[req.Command]; ok {
		return h.block(req)
	}
	if notSupported[req.Command] {
		return unsupported(req.Command)
	}
	return ngproto.ErrorReply(reason(errUnrecognized))
}

func (h *Handler) offerAnswer(req *ngproto.Request, from netip.AddrPort, answer bool) ngproto.Dict {
	if req.SDP == "" {
		if _, present := req.Raw["sdp"]; present && req.CallID != "" && req.FromTag != "" {
			// rtpengine 10.5 answers an empty sdp string with a bare ok.
			return ngproto.OK()
		}
		return ngproto.ErrorReply(reason(errNoSDP))
	}
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	if req.FromTag == "" {
		return ngproto.ErrorReply(reason(errNoFromTag))
	}
	if answer && req.ToTag == "" {
		return ngproto.ErrorReply(reason(errNoToTag))
	}
	p := params(req)
	p.Proxy = from.String()
	res, err := h.reg.Signal(p, answer)
	if err != nil {
		if loadLimit(err) {
			if req.SupportsLoadLimit() {
				// Kamailio says it understands "load limit": rtpengine
				// answers with that result, naming the limit.
				return ngproto.LoadLimitReply(reason(err))
			}
			// The legacy protocol knows one such error.
			err = call.ErrSessionLimit
		}
		return ngproto.ErrorReply(reason(err))
	}
	r := ngproto.OK()
	r["sdp"] = res.SDP
	if len(res.Recordings) > 0 {
		l := make([]any, len(res.Recordings))
		for i, f := range res.Recordings {
			l[i] = f
		}
		r["recordings"] = l
	}
	return r
}

// params maps the typed NG request onto the registry's parameters.
func params(req *ngproto.Request) *call.Params {
	p := &call.Params{
		CallID: req.CallID, FromTag: req.FromTag, ToTag: req.ToTag, ViaBranch: req.ViaBranch,
		Label: req.Label, SDP: req.SDP,
		Flags: req.Flags, Replace: set(req.Replace), RTCPMux: set(req.RTCPMux),
		ICE: req.ICE, DTLS: req.DTLS, TransportProtocol: req.TransportProtocol,
		DTLSFingerprint: req.DTLSFingerprint, SDES: req.SDES,
		MediaAddress: req.MediaAddress, AddressFamily: req.AddressFamily,
		Interface: req.Interface, Direction: req.Direction, ICELite: req.ICELite,
		TOS: int(req.TOS), HasTOS: req.HasTOS,
		RecordCall: req.RecordCall, Metadata: req.Metadata,
	}
	if req.Codec != nil {
		p.CodecStrip = req.Codec.List("strip")
		p.CodecMask = req.Codec.List("mask")
		p.CodecExcept = req.Codec.List("except")
	}
	if n := len(req.ReceivedFrom); n > 0 {
		if a, err := netip.ParseAddr(req.ReceivedFrom[n-1]); err == nil {
			p.ReceivedFrom = a
		}
	}
	return p
}

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, "_", "-"), " ", "-"))] = true
	}
	return m
}

func (h *Handler) delete(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	dp := call.DeleteParams{
		CallID: req.CallID, FromTag: req.FromTag, ToTag: req.ToTag, ViaBranch: req.ViaBranch,
		UseToTag: req.Flags["to-tag"],
		// rtpengine 10.5 returns statistics only for a delete naming a
		// from-tag; "fast" (newer rtpengine) suppresses them.
		Fast: req.Flags["fast"] || req.FromTag == "",
	}
	if req.HasDeleteDelay {
		dp.Delay, dp.HasDelay = time.Duration(req.DeleteDelay)*time.Second, true
	}
	st, err := h.reg.Delete(dp)
	if err != nil {
		if req.Flags["fatal"] {
			return ngproto.ErrorReply(reason(err))
		}
		return ngproto.OKWarning(reason(err))
	}
	if st == nil {
		return ngproto.OK()
	}
	r := renderStats(st)
	r["result"] = "ok"
	return r
}

func (h *Handler) query(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	st, err := h.reg.Query(req.CallID, req.FromTag, req.ToTag)
	if err != nil {
		return ngproto.ErrorReply(reason(err))
	}
	r := renderStats(st)
	r["result"] = "ok"
	return r
}

func (h *Handler) list(req *ngproto.Request) ngproto.Dict {
	limit := 32
	if _, ok := req.Raw.Get("limit"); ok {
		limit = int(req.Limit)
	}
	var ids []string
	if limit > 0 {
		ids = h.reg.List(limit)
	}
	calls := make([]any, len(ids))
	for i, id := range ids {
		calls[i] = id
	}
	r := ngproto.OK()
	r["calls"] = calls
	return r
}

func (h *Handler) runCLI(ctx context.Context, req *ngproto.Request) ngproto.Dict {
	if h.cli == nil {
		return ngproto.ErrorReply("CLI not available")
	}
	body := req.Body
	if body == "" {
		return ngproto.ErrorReply("No CLI command in message")
	}
	r := ngproto.OK()
	r["response"] = h.cli.Run(ctx, body)
	return r
}
