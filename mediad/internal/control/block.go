package control

import (
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
	if err := h.reg.Block(call.BlockParams{Party: party(req), Action: bc.action, On: bc.on}); err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	return ngproto.OK()
}
