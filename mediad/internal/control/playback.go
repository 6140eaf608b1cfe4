package control

import (
	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// playMedia handles play media as rtpengine 10.5 does
// (call_play_media_ng): the named party hears the file; the reply gives
// its duration in milliseconds.
func (h *Handler) playMedia(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	p := call.MediaParams{Party: party(req), File: req.Raw.Str("file"), Blob: []byte(req.Raw.Str("blob"))}
	p.DBID, _ = req.Raw.Int("db-id")
	if n, ok := req.Raw.Int("repeat-times"); ok {
		p.Repeat = int(min(max(n, 0), 1<<20))
	}
	d, err := h.reg.PlayMedia(p)
	if err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	r := ngproto.OK()
	if d > 0 {
		r["duration"] = d.Milliseconds()
	}
	return r
}

// stopMedia handles stop media (call_stop_media_ng).
func (h *Handler) stopMedia(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	if err := h.reg.StopMedia(party(req)); err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	return ngproto.OK()
}
