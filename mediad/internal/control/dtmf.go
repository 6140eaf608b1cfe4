package control

import (
	"errors"
	"strings"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/relay"
	"sipmedia/ngproto"
)

// errDTMFCode: play DTMF without a code (or digit) in 0-15 or
// "0123456789*#ABCD".
var errDTMFCode = errors.New("out of range 'code' specified")

// warnNotInjectable is the warning beside ok when play DTMF named a
// party whose offer or answer did not ask for inject DTMF: rtpengine
// 10.5 answers a bare ok and plays nothing, which leaves an operator
// guessing.
const warnNotInjectable = "Call not set up with the 'inject DTMF' flag: no DTMF played"

// playDTMF handles play DTMF as rtpengine 10.5 does
// (call_play_dtmf_ng): the digit goes into the audio the selected party
// sends, in place of that audio, heard by its peer. Its parameters are
// clamped, not refused, as there.
func (h *Handler) playDTMF(req *ngproto.Request) ngproto.Dict {
	if req.CallID == "" {
		return ngproto.ErrorReply(reason(errNoCallID))
	}
	code := dtmfCode(req.Raw)
	if code < 0 {
		return ngproto.ErrorReply(reason(errDTMFCode))
	}
	d := relay.Digit{
		Code:     uint8(code),
		Duration: clampMs(req.Raw, "duration", 250),
		Pause:    clampMs(req.Raw, "pause", 100),
		Volume:   8, // rtpengine's documented -8 dB (10.5 sends 63 by mistake)
	}
	if v, ok := req.Raw.Int("volume"); ok {
		d.Volume = uint8(min(max(v, -v), 63)) // positive means negative
	}
	not, err := h.reg.PlayDTMF(call.DTMFParams{Party: party(req), Digit: d})
	if err != nil {
		return ngproto.ErrorReply(partyReason(err))
	}
	if len(not) > 0 {
		h.log.Info("play DTMF: not set up for injection", "call-id", req.CallID, "tags", strings.Join(not, ","))
		return ngproto.OKWarning(warnNotInjectable)
	}
	return ngproto.OK()
}

// dtmfCode reads the code or digit key as rtpengine does: an integer
// 0-15, or one of "0123456789*#ABCD" (as a string, or the character's
// code); -1 for anything else.
func dtmfCode(d ngproto.Dict) int {
	digit := int64(-1)
	for _, k := range []string{"code", "digit"} {
		v, ok := d.Get(k)
		if !ok {
			continue
		}
		if n, ok := d.Int(k); ok {
			digit = n
		}
		if s, ok := v.(string); ok && len(s) == 1 {
			digit = int64(s[0])
		}
	}
	if digit >= 0 && digit <= 15 {
		return int(digit)
	}
	if digit < 0 || digit > 127 {
		return -1
	}
	return strings.IndexByte("0123456789*#ABCD", byte(digit))
}

// clampMs reads a duration in milliseconds, def when absent or zero,
// within rtpengine's 100 ms to 5 s.
func clampMs(d ngproto.Dict, key string, def int64) time.Duration {
	ms, _ := d.Int(key)
	if ms == 0 {
		ms = def
	}
	return time.Duration(min(max(ms, 100), 5000)) * time.Millisecond
}
