package control

import (
	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// recordCommands are rtpengine's recording commands, by whether they
// turn recording on.
var recordCommands = map[string]bool{"start recording": true, "stop recording": false}

// forwardCommands are rtpengine's forwarding commands, by whether they
// turn forwarding on.
var forwardCommands = map[string]bool{"start forwarding": true, "stop forwarding": false}

// forward carries out start forwarding or stop forwarding, which record
// the call as with rtpengine's pcap method (call.Registry.Forward).
func (h *Handler) forward(req *ngproto.Request, on bool) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	if err := h.reg.Forward(call.ForwardParams{Party: party(req), Metadata: req.Metadata}, on); err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	return ngproto.OK()
}

// record carries out start recording or stop recording. As in rtpengine,
// a call without a configured spool directory is answered ok (the daemon
// logs the error).
func (h *Handler) record(req *ngproto.Request, on bool) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	err := h.reg.Record(call.RecordParams{CallID: req.CallID, Metadata: req.Metadata}, on)
	if err != nil {
		return ngproto.ErrorReply(reason(err))
	}
	return ngproto.OK()
}
