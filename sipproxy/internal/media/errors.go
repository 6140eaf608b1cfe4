package media

import (
	"errors"
	"fmt"

	"sipmedia/ngproto"
)

// Error is a failed media request with the SIP reply it calls for.
type Error struct {
	Code   int
	Reason string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("media: %d %s: %v", e.Code, e.Reason, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// SIPStatus is the status line the caller should get.
func (e *Error) SIPStatus() (int, string) { return e.Code, e.Reason }

// ErrUnavailable: no media daemon answered (every backend timed out, was
// overloaded or none is configured).
var ErrUnavailable = errors.New("no media daemon available")

// mapFailure turns a transport failure or an error reply into an *Error:
// no daemon -> 503, the daemon refusing the SDP -> 488, anything else 500.
func mapFailure(err error, reply ngproto.Dict) *Error {
	if err != nil {
		return &Error{Code: 503, Reason: "Media Unavailable", Err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	reason := reply.ReplyError()
	if reason == "" {
		reason = "result " + reply.Result()
	}
	e := fmt.Errorf("daemon replied %q", reason)
	switch {
	case ngproto.IsFailoverReason(reason):
		return &Error{Code: 503, Reason: "Media Unavailable", Err: fmt.Errorf("%w: %w", ErrUnavailable, e)}
	case reason == ngproto.ErrParseSDP.Reason(), reason == ngproto.ErrIncompleteSDP.Reason(),
		reason == ngproto.ErrRewriteSDP.Reason(), reason == ngproto.ErrNoSDP.Reason():
		return &Error{Code: 488, Reason: "Not Acceptable Here", Err: e}
	}
	return &Error{Code: 500, Reason: "Server Internal Error", Err: e}
}
