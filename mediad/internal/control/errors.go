package control

import (
	"errors"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/relay"
	"sipmedia/ngproto"
)

// reasons maps every signalling error to rtpengine's exact error-reason
// string (daemon/call_interfaces.c). Proxies match on these strings
// (OpenSIPS fails over on "Ran out of ports" and "Parallel session limit
// reached"), so this table is the only place they are spelled.
var reasons = []struct {
	err    error
	reason string
}{
	{errNoSDP, "No SDP body in message"},
	{errNoCallID, "No call-id in message"},
	{errNoFromTag, "No from-tag in message"},
	{errNoToTag, "No to-tag in message"},
	{call.ErrUnknownCall, "Unknown call-id"},
	{errUnknownCallID, "Unknown call-ID"},
	{call.ErrUnknownTag, "From-tag given, but no such tag exists"},
	{call.ErrUnknownLabel, "No monologue matching the given label"},
	{call.ErrBadAddress, "Failed to parse network address"},
	{call.ErrAddressNoTag, "Failed to match address to any tag"},
	{call.ErrParseSDP, "Failed to parse SDP"},
	{call.ErrIncompleteSDP, "Incomplete SDP specification"},
	{call.ErrDialogue, "Invalid dialogue association"},
	{call.ErrRewriteSDP, "Error rewriting SDP"},
	{call.ErrNoPorts, ngproto.ReasonNoPorts},
	{call.ErrSessionLimit, ngproto.ReasonSessionLimit},
	{call.ErrLoadLimit, ngproto.ReasonLoadLimit},
	{call.ErrCPULimit, ngproto.ReasonCPULimit},
	{call.ErrBandwidthLimit, ngproto.ReasonBandwidthLimit},
	{call.ErrNotFound, ngproto.WarningCallNotFound},
	{errUnrecognized, "Unrecognized command"},
	{errDTMFCode, "Out of range 'code' specified"},
	{call.ErrNoParty, "No participant party specified"},
	{call.ErrNoDTMFMedia, "Monologue has no media capable of DTMF injection"},
	{call.ErrNoDTMFSink, "Sink monologue has no media capable of DTMF playback"},
	{call.ErrNoDTMFCodec, "No telephone-event or G.711 codec toward the receiver for DTMF injection"},
	{relay.ErrDigitQueueFull, "Too many DTMF digits queued"},
	{call.ErrPlayFile, "Failed to start media playback from file"},
	{call.ErrPlayBlob, "Failed to start media playback from blob"},
	{call.ErrPlayDB, "Failed to start media playback from database"},
	{call.ErrNoMediaFile, "No media file specified"},
	{call.ErrNotPlaying, "Not currently playing media"},
	{call.ErrNoPlayCodec, "No PCMU or PCMA codec toward the party for media playback"},
	{call.ErrNoPlayStream, "No media stream toward the party for media playback"},
	{call.ErrNoMonologues, "No monologues matched"},
	{call.ErrNoCallParticipant, "No call participant specified"},
	{call.ErrPublishProto, "Publish supports plain RTP media only"},
	{call.ErrToTagNotFound, "To-tag not found"},
	{call.ErrSubscriptionAnswer, "Failed to process subscription answer"},
}

// Request validation errors of this package.
var (
	errNoSDP        = errors.New("no SDP body")
	errNoCallID     = errors.New("no call-id")
	errNoFromTag    = errors.New("no from-tag")
	errNoToTag      = errors.New("no to-tag")
	errUnrecognized = errors.New("unrecognized command")
	// errUnknownCallID is call.ErrUnknownCall as the block commands
	// report it.
	errUnknownCallID = errors.New("unknown call-ID")
)

// partyReason is reason for the commands that name a party (block,
// forwarding, play): they spell an unknown call differently from answer
// and query.
func partyReason(err error) string {
	if errors.Is(err, call.ErrUnknownCall) {
		err = errUnknownCallID
	}
	return reason(err)
}

// reason returns the NG error-reason for err.
func reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ngproto.Reason(err)
}

// unsupported is the reply to a command rtpengine knows and mediad does
// not implement yet. It names the command and is not a failover reason.
func unsupported(cmd string) ngproto.Dict {
	return ngproto.ErrorReply("Unsupported command '" + cmd + "'")
}

// loadLimit reports whether err is one of rtpengine's load limits, which
// a proxy that supports "load limit" gets as that result.
func loadLimit(err error) bool {
	return errors.Is(err, call.ErrSessionLimit) || errors.Is(err, call.ErrLoadLimit) ||
		errors.Is(err, call.ErrCPULimit) || errors.Is(err, call.ErrBandwidthLimit)
}
