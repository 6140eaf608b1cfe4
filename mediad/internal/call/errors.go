package call

import "errors"

// Sentinel errors of signalling. Package control maps each to rtpengine's
// exact error-reason string.
var (
	// ErrUnknownCall: no call with this call-id (answer, query).
	ErrUnknownCall = errors.New("unknown call-id")
	// ErrNotFound: delete found no call, or the tags did not match.
	ErrNotFound = errors.New("call-id not found or tags didn't match")
	// ErrParseSDP: the body is not SDP.
	ErrParseSDP = errors.New("failed to parse SDP")
	// ErrIncompleteSDP: a media section has no connection address.
	ErrIncompleteSDP = errors.New("incomplete SDP specification")
	// ErrRewriteSDP: the SDP cannot be rewritten (no media sections).
	ErrRewriteSDP = errors.New("error rewriting SDP")
	// ErrDialogue: the tags do not describe a dialogue of this call.
	ErrDialogue = errors.New("invalid dialogue association")
	// ErrNoPorts: the port range is exhausted.
	ErrNoPorts = errors.New("ran out of ports")
	// ErrSessionLimit: max-sessions reached.
	ErrSessionLimit = errors.New("parallel session limit reached")
	// ErrLoadLimit, ErrCPULimit, ErrBandwidthLimit: max-load, max-cpu,
	// max-bandwidth reached.
	ErrLoadLimit      = errors.New("load limit exceeded")
	ErrCPULimit       = errors.New("CPU usage limit exceeded")
	ErrBandwidthLimit = errors.New("bandwidth limit exceeded")
	// ErrUnknownTag, ErrUnknownLabel, ErrBadAddress, ErrAddressNoTag: the
	// party a block or silence command names is not there (rtpengine's
	// media_block_match).
	ErrUnknownTag    = errors.New("from-tag given, but no such tag exists")
	ErrUnknownLabel  = errors.New("no monologue matching the given label")
	ErrBadAddress    = errors.New("failed to parse network address")
	ErrAddressNoTag  = errors.New("failed to match address to any tag")
	errUnknownAction = errors.New("unknown block action")
	// ErrNoParty: a play DTMF named neither a party nor all.
	ErrNoParty = errors.New("no participant party specified")
	// ErrNoDTMFMedia, ErrNoDTMFSink: the party, or its peer, has no audio
	// to play a digit into (rtpengine's call_play_dtmf_ng).
	ErrNoDTMFMedia = errors.New("monologue has no media capable of DTMF injection")
	ErrNoDTMFSink  = errors.New("sink monologue has no media capable of DTMF playback")
	// ErrPlayFile, ErrPlayBlob, ErrPlayDB: play media could not read or
	// decode its audio (rtpengine's reasons; the cause is logged).
	ErrPlayFile = errors.New("failed to start media playback from file")
	ErrPlayBlob = errors.New("failed to start media playback from blob")
	ErrPlayDB   = errors.New("failed to start media playback from database")
	// ErrNoMediaFile: play media without file, blob or db-id.
	ErrNoMediaFile = errors.New("no media file specified")
	// ErrNotPlaying: stop media for a party never played to.
	ErrNotPlaying = errors.New("not currently playing media")
	// ErrNoPlayCodec: the party takes neither PCMU nor PCMA, the codecs
	// mediad plays into.
	ErrNoPlayCodec = errors.New("no PCMU or PCMA codec toward the party for media playback")
	// ErrNoPlayStream: the party has no media socket yet.
	ErrNoPlayStream = errors.New("no media stream toward the party for media playback")
	// ErrNoDTMFCodec: the receiver takes no telephone-event and the audio
	// is no G.711, into which mediad could put a tone.
	ErrNoDTMFCodec = errors.New("no telephone-event or G.711 toward the receiver for DTMF injection")
	// ErrNoMonologues: a subscribe request named no party to copy;
	// ErrNoCallParticipant: its all found no party of offer/answer.
	ErrNoMonologues      = errors.New("no monologues matched")
	ErrNoCallParticipant = errors.New("no call participant specified")
	// ErrPublishProto: a publish of SRTP media (mediad answers a
	// publisher with plain RTP only).
	ErrPublishProto = errors.New("publish of a media not plain RTP")
	// ErrToTagNotFound: a subscribe answer for no subscription.
	ErrToTagNotFound = errors.New("to-tag not found")
	// ErrSubscriptionAnswer: the subscriber's answer does not take the
	// media offered to it.
	ErrSubscriptionAnswer = errors.New("failed to process subscription answer")
)
