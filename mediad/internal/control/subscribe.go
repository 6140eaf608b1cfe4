package control

import (
	"net/netip"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// subscribeRequest handles subscribe request as rtpengine 10.5 does
// (call_subscribe_request_ng): a subscription to the parties named, and
// its sendonly offer.
func (h *Handler) subscribeRequest(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	p := call.SubscribeParams{CallID: req.CallID, FromTag: req.FromTag, FromTags: req.FromTags, ToTag: req.ToTag,
		All: req.Flags["all"] || req.Raw.Str("all") == "all", Label: req.SetLabel, RTCPMirror: req.Flags["mirror-rtcp"]}
	if p.Label == "" {
		p.Label = req.ToLabel
	}
	res, err := h.reg.SubscribeRequest(p)
	if err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	r := ngproto.OK()
	r["sdp"] = res.SDP
	r["to-tag"] = res.ToTag
	tags := make([]any, len(res.FromTags))
	for i, t := range res.FromTags {
		tags[i] = t
	}
	r["from-tags"] = tags
	if len(res.FromTags) == 1 {
		r["from-tag"] = res.FromTags[0]
	}
	return r
}

// subscribeAnswer handles subscribe answer (call_subscribe_answer_ng).
func (h *Handler) subscribeAnswer(req *ngproto.Request) ngproto.Dict {
	switch {
	case req.CallID == "":
		return ngproto.ErrorReply(reason(errNoCallID))
	case req.ToTag == "":
		return ngproto.ErrorReply(reason(errNoToTag))
	case req.SDP == "":
		return ngproto.ErrorReply(reason(errNoSDP))
	}
	err := h.reg.SubscribeAnswer(call.SubscribeAnswerParams{CallID: req.CallID, ToTag: req.ToTag, SDP: req.SDP,
		AllowTranscoding: req.Flags["allow-transcoding"]})
	if err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	return ngproto.OK()
}

// unsubscribe handles unsubscribe (call_unsubscribe_ng).
func (h *Handler) unsubscribe(req *ngproto.Request) ngproto.Dict {
	switch {
	case req.CallID == "":
		return ngproto.ErrorReply(reason(errNoCallID))
	case req.ToTag == "":
		return ngproto.ErrorReply(reason(errNoToTag))
	}
	if err := h.reg.Unsubscribe(req.CallID, req.ToTag); err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	return ngproto.OK()
}

// publish handles publish (call_publish_ng): a party's media offered to
// the daemon for subscribers, answered recvonly.
func (h *Handler) publish(req *ngproto.Request, from netip.AddrPort) ngproto.Dict {
	switch {
	case req.SDP == "":
		return ngproto.ErrorReply(reason(errNoSDP))
	case req.CallID == "":
		return ngproto.ErrorReply(reason(errNoCallID))
	case req.FromTag == "":
		return ngproto.ErrorReply(reason(errNoFromTag))
	}
	p := params(req)
	p.Proxy = from.String()
	var accept []string
	if req.Codec != nil {
		accept = req.Codec.List("accept")
	}
	out, err := h.reg.Publish(p, accept)
	if err != nil {
		return ngproto.ErrorReply(reason(err))
	}
	r := ngproto.OK()
	r["sdp"] = out
	return r
}
