package router

import (
	"context"
	"errors"

	"github.com/emiago/sipgo/sip"
)

// Flags are the script flags the media hooks choose their offer/answer
// options from (the seed's SRC_WS / DST_WS matrix).
type Flags struct {
	SrcWS bool // the caller came over WS/WSS
	DstWS bool // the branch goes to a WS/WSS registration
}

// Media is the media control seam (rtpengine_offer/answer/delete and
// rtpengine_manage's late SDP in the seed; package media implements it).
// Each hook may rewrite the message body in place. The router works
// without it: a nil Media skips every call.
type Media interface {
	// Offer runs in branch_route for an INVITE carrying SDP, per branch;
	// req is the branch as it will be sent (our Via on top). An error
	// fails the branch with the error's SIPStatus (default 500). It runs
	// for an UPDATE or PRACK carrying SDP too; a PRACK's may be the
	// answer to a late offer, which the implementation tells.
	Offer(ctx context.Context, req *sip.Request, f Flags) error
	// Reply runs in onreply_route for a 1xx/2xx carrying SDP to an INVITE,
	// UPDATE or PRACK: inv is the branch request as sent, res the reply
	// going upstream. It is the answer, or the late offer when an INVITE
	// had no SDP.
	Reply(ctx context.Context, inv *sip.Request, res *sip.Response, f Flags) error
	// Ack runs for an end-to-end ACK carrying SDP (the late answer).
	Ack(ctx context.Context, req *sip.Request) error
	// Delete runs in route(relay) for BYE and CANCEL, and for an INVITE
	// whose final reply upstream is a failure.
	Delete(ctx context.Context, req *sip.Request) error
	// DeleteBranch runs for a failed branch of a forked INVITE carrying
	// SDP (inv as sent) while other branches live: only that branch's
	// leg goes.
	DeleteBranch(ctx context.Context, inv *sip.Request) error
}

// InfoDTMFMedia is what a Media may also do: play the DTMF digit of an
// in-dialog INFO into the media (package media, --info-dtmf=inject);
// handled means the INFO ends here with 200.
type InfoDTMFMedia interface {
	InfoDTMF(ctx context.Context, req *sip.Request) (handled bool, err error)
}

// mediaStatus is the local reply for a failed offer: the error's
// SIPStatus() when it has one, else 500.
func mediaStatus(err error) *branchError {
	var s interface{ SIPStatus() (int, string) }
	if errors.As(err, &s) {
		if code, reason := s.SIPStatus(); code >= 300 && code < 700 {
			return &branchError{code, reason}
		}
	}
	return &branchError{500, "Server Internal Error"}
}
