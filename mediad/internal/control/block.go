package control

import (
	"errors"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// blockCommands are rtpengine's media blocking commands: the action and
// whether it turns blocking on.
var blockCommands = map[string]struct {
	action call.BlockAction
	on     bool
}{
	"block media":     {call.BlockMedia, true},
	"unblock media":   {call.BlockMedia, false},
	"silence media":   {call.SilenceMedia, true},
	"unsilence media": {call.SilenceMedia, false},
	"block DTMF":      {call.BlockDTMF, true},
	"unblock DTMF":    {call.BlockDTMF, false},
}

// party is the call and party a block or forwarding command names.
func party(req *ngproto.Request) call.Party {
	return call.Party{
		CallID: req.CallID, FromTag: req.FromTag, Label: req.Label, Address: req.Raw.Str("address"),
		All: req.Flags["all"] || req.Raw.Str("all") == "all",
	}
}

// block handles the block, unblock, silence and unsilence commands.
func (h *Handler) block(req *ngproto.Request) ngproto.Dict {
	bc := blockCommands[req.Command]
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	err := h.reg.Block(call.BlockParams{Party: party(req), Action: bc.action, On: bc.on})
	if errors.Is(err, call.ErrUnknownCall) {
		// These commands spell it differently from answer and query.
		err = errUnknownCallID
	}
	if err != nil {
		return ngproto.ErrorReply(reason(err))
	}
	return ngproto.OK()
}
