package webrtc

import (
	"errors"
	"net/netip"
	"sync/atomic"
)

// Transform is what the relay's hot path calls on a stream whose peer
// speaks ICE/DTLS/SRTP or SDES-SRTP.
type Transform interface {
	// Inbound handles a datagram of n bytes received in buf from `from`.
	// STUN and DTLS are consumed (forward=false). SRTP/SRTCP is decrypted in
	// place and the plain packet returned with forward=true. Anything that
	// fails authentication, replays or arrives before keys is dropped and
	// counted. Inbound never blocks.
	Inbound(buf []byte, n int, from netip.AddrPort) (out []byte, forward bool)
	// Outbound encrypts a plain RTP or RTCP packet for this peer into dst
	// (which needs len(plain)+MaxOverhead capacity to avoid an allocation)
	// and returns the datagram to send. It fails with ErrNotReady before keys.
	Outbound(dst, plain []byte) ([]byte, error)
	// Peer returns where packets for this peer must go when the endpoint
	// decides it (the ICE-selected pair); ok=false means "use the relay's
	// own latched or signalled address" — or, with ICE, "do not send yet".
	Peer() (addr netip.AddrPort, ok bool)
}

// MaxOverhead is the most SRTP/SRTCP adds to a packet (SRTCP index + 16
// byte GCM tag, or the 10-byte HMAC tag plus the index).
const MaxOverhead = 4 + 16

// Errors of the packet path.
var (
	ErrNotReady = errors.New("SRTP keys not established")
	ErrNoPeer   = errors.New("no peer address selected")
)

// Stats are cumulative per-endpoint counters; every dropped packet is
// counted in exactly one of the *Dropped / *Bad / *Fail fields.
type Stats struct {
	STUNIn, STUNBad         uint64 // STUN handled / rejected by ICE (bad credentials, malformed)
	DTLSIn, DTLSDropped     uint64 // DTLS fed to the handshake / dropped (no session, queue full)
	DTLSEarly               uint64 // handshake records kept for a session not started yet
	SRTPIn, SRTCPIn         uint64 // decrypted packets
	SRTPAuthFail, SRTPReply uint64 // failed authentication / replayed
	NoKeys                  uint64 // (S)RTP before keys were known
	Unknown                 uint64 // first byte outside the RFC 7983 ranges
	SRTPOut, SRTCPOut       uint64 // encrypted packets
	OutFail                 uint64 // Outbound errors
}

type counters struct {
	stunIn, stunBad, dtlsIn, dtlsDropped, dtlsEarly, srtpIn, srtcpIn, authFail, replay,
	noKeys, unknown, srtpOut, srtcpOut, outFail atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		STUNIn: c.stunIn.Load(), STUNBad: c.stunBad.Load(),
		DTLSIn: c.dtlsIn.Load(), DTLSDropped: c.dtlsDropped.Load(), DTLSEarly: c.dtlsEarly.Load(),
		SRTPIn: c.srtpIn.Load(), SRTCPIn: c.srtcpIn.Load(),
		SRTPAuthFail: c.authFail.Load(), SRTPReply: c.replay.Load(),
		NoKeys: c.noKeys.Load(), Unknown: c.unknown.Load(),
		SRTPOut: c.srtpOut.Load(), SRTCPOut: c.srtcpOut.Load(), OutFail: c.outFail.Load(),
	}
}

// Packet classes by first byte (RFC 7983 §7).
type class uint8

const (
	classUnknown class = iota
	classSTUN
	classDTLS
	classRTP
)

func classify(b []byte) class {
	if len(b) == 0 {
		return classUnknown
	}
	switch c := b[0]; {
	case c <= 3:
		return classSTUN
	case c >= 20 && c <= 63:
		return classDTLS
	case c >= 128 && c <= 191:
		return classRTP
	}
	return classUnknown
}

// isRTCP tells RTCP from RTP on a muxed port (RFC 5761 §4: PT 64-95 with
// the marker bit, i.e. second byte 192-223).
func isRTCP(b []byte) bool {
	return len(b) >= 2 && b[1] >= 192 && b[1] <= 223
}
