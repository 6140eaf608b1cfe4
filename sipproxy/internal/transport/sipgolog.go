package transport

import (
	"context"
	"log/slog"
	"strings"
)

// SipgoLog is the slog handler sipgo logs through. It counts sipgo's
// "failed to parse" records into Stats (when set): sipgo drops unparsable
// messages without any other hook. And it logs sipgo's reference-count
// bookkeeping at debug level: closing a TCP, TLS or WS flow sets its count
// to zero, so a transaction still holding the flow (a BYE's server
// transaction when the browser leaves right after) gives its reference
// back below zero and sipgo warns "... ref went negative". That is sipgo
// accounting for its own close, once per such disconnect; it closes nothing
// twice, and operators should not see a warning for it.
type SipgoLog struct {
	slog.Handler
	Stats *Stats
}

// Handle counts parse failures, demotes the bookkeeping warnings and passes
// the record on.
func (h SipgoLog) Handle(ctx context.Context, r slog.Record) error {
	if h.Stats != nil && r.Level >= slog.LevelWarn && strings.Contains(strings.ToLower(r.Message), "parse") {
		h.Stats.ParseFailed.Add(1)
	}
	if r.Level > slog.LevelDebug && strings.HasSuffix(r.Message, "ref went negative") {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper.
func (h SipgoLog) WithAttrs(a []slog.Attr) slog.Handler {
	return SipgoLog{Handler: h.Handler.WithAttrs(a), Stats: h.Stats}
}

// WithGroup keeps the wrapper.
func (h SipgoLog) WithGroup(n string) slog.Handler {
	return SipgoLog{Handler: h.Handler.WithGroup(n), Stats: h.Stats}
}
