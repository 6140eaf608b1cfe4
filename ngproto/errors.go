package ngproto

import (
	"errors"
	"fmt"
)

// ReasonError is an error whose text is one of rtpengine's exact
// "error-reason" strings. Proxies match on these strings (OpenSIPS fails
// over on some of them), so they must never be reworded.
type ReasonError struct {
	reason string
}

func (e *ReasonError) Error() string { return e.reason }

// Reason returns the rtpengine error-reason string.
func (e *ReasonError) Reason() string { return e.reason }

// NewReasonError makes an error that Reason reports verbatim.
func NewReasonError(reason string) *ReasonError { return &ReasonError{reason: reason} }

// Errors of the framing and decoding layer (daemon/control_ng.c).
var (
	// ErrNoCookie: the datagram has no space, or starts with one. rtpengine
	// logs and drops it without a reply.
	ErrNoCookie      = errors.New("ngproto: no cookie")
	ErrNoPayload     = NewReasonError("Invalid data (no payload)")
	ErrBencode       = NewReasonError("Could not decode bencode dictionary")
	ErrJSON          = NewReasonError("Failed to parse JSON document")
	ErrJSONDict      = NewReasonError("Could not decode JSON dictionary")
	ErrFormat        = NewReasonError("Invalid NG data format")
	ErrNoCommand     = NewReasonError("Dictionary contains no key \"command\"")
	ErrUnrecognized  = NewReasonError("Unrecognized command")
	ErrNoHandler     = NewReasonError("No command handler")
	ErrNoSDP         = NewReasonError("No SDP body in message")
	ErrNoCallID      = NewReasonError("No call-id in message")
	ErrNoFromTag     = NewReasonError("No from-tag in message")
	ErrNoToTag       = NewReasonError("No to-tag in message")
	ErrUnknownCallID = NewReasonError("Unknown call-id")
	ErrParseSDP      = NewReasonError("Failed to parse SDP")
	ErrIncompleteSDP = NewReasonError("Incomplete SDP specification")
	ErrDialogue      = NewReasonError("Invalid dialogue association")
	ErrRewriteSDP    = NewReasonError("Error rewriting SDP")
)

// Failover reasons: OpenSIPS (rtpe_default_failover_errors) retries the
// next node when a reply carries one of these.
const (
	ReasonSessionLimit   = "Parallel session limit reached"
	ReasonNoPorts        = "Ran out of ports"
	ReasonCPULimit       = "CPU usage limit exceeded"
	ReasonLoadLimit      = "Load limit exceeded"
	ReasonBandwidthLimit = "Bandwidth limit exceeded"
	// WarningCallNotFound is the warning of a delete for an unknown call.
	WarningCallNotFound = "Call-ID not found or tags didn't match"
)

var (
	ErrSessionLimit   = NewReasonError(ReasonSessionLimit)
	ErrNoPorts        = NewReasonError(ReasonNoPorts)
	ErrCPULimit       = NewReasonError(ReasonCPULimit)
	ErrLoadLimit      = NewReasonError(ReasonLoadLimit)
	ErrBandwidthLimit = NewReasonError(ReasonBandwidthLimit)
)

// ErrTimeout is returned by Client and Pool when no reply arrived after
// all retransmissions.
var ErrTimeout = errors.New("ngproto: timeout waiting for reply")

// IsFailoverReason reports whether an error-reason (or load-limit message)
// makes a proxy try another backend.
func IsFailoverReason(reason string) bool {
	switch reason {
	case ReasonSessionLimit, ReasonNoPorts, ReasonCPULimit, ReasonLoadLimit, ReasonBandwidthLimit:
		return true
	}
	return false
}

// Reason returns rtpengine's error-reason for err: the text of the first
// ReasonError in its chain, or err.Error() when there is none.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var re *ReasonError
	if errors.As(err, &re) {
		return re.reason
	}
	return err.Error()
}

// wrapReason attaches detail to a reason error without changing Reason().
func wrapReason(re *ReasonError, detail error) error {
	if detail == nil {
		return re
	}
	return fmt.Errorf("%w: %v", re, detail)
}
