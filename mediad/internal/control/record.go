package control

import (
	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// recordCommands are rtpengine's recording commands, by whether they
// turn recording on.
var recordCommands = map[string]bool{"start recording": true, "stop recording": false}

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
