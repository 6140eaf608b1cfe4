package relay

import (
	"fmt"
	"net/netip"
	"time"
)

// Learning selects how a stream learns its peer's real address from incoming
// packets (rtpengine's --endpoint-learning).
type Learning uint8

const (
	// LearnDelayed (the default) follows the packet source during the first
	// LearnWindow after signalling and confirms the first source seen after it.
	LearnDelayed Learning = iota
	// LearnImmediate confirms the source of the first packet.
	LearnImmediate
	// LearnOff never learns: packets go to the address from the SDP.
	LearnOff
	// LearnHeuristic is LearnDelayed, but prefers sources that match the SDP
	// address and port, then the address, then the port, then anything.
	LearnHeuristic
)

// LearnWindow is how long after signalling delayed and heuristic learning keep
// following the packet source before they commit (rtpengine: 3 seconds).
const LearnWindow = 3 * time.Second

// ParseLearning maps rtpengine's endpoint-learning names; "" is delayed.
func ParseLearning(s string) (Learning, error) {
	switch s {
	case "", "delayed":
		return LearnDelayed, nil
	case "immediate":
		return LearnImmediate, nil
	case "off":
		return LearnOff, nil
	case "heuristic":
		return LearnHeuristic, nil
	}
	return LearnDelayed, fmt.Errorf("endpoint learning %q: %w", s, ErrBadLearning)
}

func (l Learning) String() string {
	switch l {
	case LearnDelayed:
		return "delayed"
	case LearnImmediate:
		return "immediate"
	case LearnOff:
		return "off"
	case LearnHeuristic:
		return "heuristic"
	}
	return fmt.Sprintf("Learning(%d)", uint8(l))
}

// Forwarding is what signalling tells one stream. It is immutable once passed
// to SetForwarding: build a new one for every change.
type Forwarding struct {
	// Remote is the peer address from signalling (SDP, or the SIP source with
	// sip-source). Packets go there until a source is learned. A zero port or
	// an unspecified address (c=0.0.0.0 hold) means "send nothing here".
	Remote netip.AddrPort

	// Sink receives this stream's RTP: it sends from its socket to its peer.
	// Nil: RTP is counted and dropped.
	Sink *Stream
	// RTCPSink receives this stream's RTCP. For an RTP socket it is used for
	// RTCP demultiplexed by payload type (rtcp-mux); for an RTCP socket it is
	// where all packets go. Nil: RTCP is counted and dropped.
	RTCPSink *Stream
	// Forks and RTCPForks also send a copy of this stream's RTP and RTCP,
	// each from its socket to its peer (rtpengine's subscriptions: media
	// forked to a recorder or monitor), whatever the Sink does with it.
	Forks, RTCPForks []*Stream

	// Learning is the endpoint-learning mode.
	Learning Learning
	// Signalled is when signalling last touched this stream's call; the
	// learning window runs from here. Zero: the window is open.
	Signalled time.Time

	// Asymmetric: the peer sends from an address it does not receive on; learn
	// (for strict-source) but keep sending to Remote.
	Asymmetric bool
	// StrictSource: after learning, drop (and count as errors) packets from
	// anyone but the learned peer.
	StrictSource bool
	// MediaHandover: after learning, follow a new source instead of dropping.
	MediaHandover bool
	// NATWait: nothing is sent to this stream's peer until a packet came
	// from it, so that its NAT opens from the inside first (rtpengine's
	// NAT-wait).
	NATWait bool

	// NoSend: this side may not send (it is recvonly or inactive, or the other
	// side is sendonly/inactive toward it): its RTP is counted, not forwarded.
	// RTCP still flows, as in rtpengine.
	NoSend bool
	// DTMF, if set, is told the DTMF events this stream receives, blocked
	// or not.
	DTMF *DTMFLog
	// Block, if set, drops or silences RTP by payload type (rtpengine's
	// block media, silence media and block DTMF); RTCP passes.
	Block *Block
	// Inject, if set, plays DTMF digits into this stream's RTP in place
	// of its audio (rtpengine's play DTMF). It holds the digits' state,
	// so every snapshot of the stream carries the same one.
	Inject *Injector
	// Record, if set, is given every packet this stream receives,
	// decrypted, before the address checks (rtpengine's call recording).
	Record Recorder
	// RTCPReport, if set, is given every RTCP packet this stream
	// receives and accepts, decrypted (rtpengine's --homer).
	RTCPReport RTCPReporter
	// KnownPT are the payload types the party declared; an RTP packet
	// with another is forwarded but counted as an error of the stream,
	// as rtpengine counts it. Empty: no check (not RTP).
	KnownPT PTSet
	// DemuxRTCP: on an RTP socket, recognise RTCP by payload type and route it
	// to RTCPSink. rtpengine does this for every RTP profile.
	DemuxRTCP bool
	// LoopProtect drops packets whose source is one of this engine's own
	// sockets.
	LoopProtect bool
	// SendLearned: Remote is no address to send to (ICE passthrough: the
	// party wrote c=0.0.0.0 and port 9 and lets ICE find the path), so
	// packets go to the source learned from the party, once there is one.
	SendLearned bool

	// Transform, if set, terminates a secure peer on this stream (ICE, DTLS,
	// SRTP: package webrtc's Endpoint): every received datagram goes through
	// Inbound first, and packets sent toward this stream's peer go through
	// Outbound, to the address Peer selects when it selects one.
	Transform Transform
}

// Transform is the per-packet hook for a stream whose peer does not speak
// plain RTP. Implementations never block.
type Transform interface {
	// Inbound handles a datagram of n bytes in buf (whose capacity allows
	// in-place rewriting) from `from`. It returns the plain packet to
	// forward, or forward=false if it consumed the datagram (STUN, DTLS) or
	// dropped it.
	Inbound(buf []byte, n int, from netip.AddrPort) (out []byte, forward bool)
	// Outbound turns a plain packet into the datagram to send, using dst's
	// capacity (MaxOverhead more than plain) to avoid allocating.
	Outbound(dst, plain []byte) ([]byte, error)
	// Peer returns the address chosen by the transform (the ICE-selected
	// pair); ok=false means the stream's learned or signalled address.
	Peer() (addr netip.AddrPort, ok bool)
}

// Recorder writes packets to a call recording (package recording's
// Recording). Implementations never block long and do not keep pkt.
type Recorder interface {
	// Packet records pkt as received from src on the local address dst
	// at now (unix nanoseconds).
	Packet(src, dst netip.AddrPort, pkt []byte, now int64)
}

// RTCPReporter takes RTCP packets for monitoring (package homer's
// Reporter). Implementations never block and do not keep pkt.
type RTCPReporter interface {
	// RTCP reports pkt, received from src on the local address dst at
	// now (unix nanoseconds).
	RTCP(src, dst netip.AddrPort, pkt []byte, now int64)
}

// MaxOverhead is the room a Transform's Outbound may add to a packet.
const MaxOverhead = 64

// Sendable reports whether a remote address from signalling may receive
// packets at all (rtpengine skips sinks with port 0 or an unspecified address).
func Sendable(ap netip.AddrPort) bool {
	return ap.Port() != 0 && ap.Addr().IsValid() && !ap.Addr().IsUnspecified()
}

// PTSet is a set of RTP payload types (0-127).
type PTSet [2]uint64

// Add puts pt in the set.
func (p *PTSet) Add(pt uint8) { p[pt>>6&1] |= 1 << (pt & 63) }

// Has reports whether pt is in the set.
func (p *PTSet) Has(pt uint8) bool { return p[pt>>6&1]&(1<<(pt&63)) != 0 }

// Empty reports whether the set has no payload type.
func (p *PTSet) Empty() bool { return p[0]|p[1] == 0 }
