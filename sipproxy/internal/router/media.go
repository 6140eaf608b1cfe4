package router

import (
	"context"

	"github.com/emiago/sipgo/sip"
)

// Flags are the script flags the media hooks choose their offer/answer
// options from (the seed's SRC_WS / DST_WS matrix).
type Flags struct {
	SrcWS bool // the caller came over WS/WSS
	DstWS bool // the branch goes to a WS/WSS registration
}

// Media is the media control seam (rtpengine_offer/answer/delete in the
// seed). Each hook may rewrite the message body in place. The router works
// without it: a nil Media skips every call.
type Media interface {
	// Offer runs in branch_route for an INVITE carrying SDP, per branch.
	Offer(ctx context.Context, req *sip.Request, f Flags) error
	// Answer runs in onreply_route for a reply to an INVITE carrying SDP.
	Answer(ctx context.Context, res *sip.Response, f Flags) error
	// Delete runs in route(relay) for BYE and CANCEL.
	Delete(ctx context.Context, req *sip.Request) error
}
