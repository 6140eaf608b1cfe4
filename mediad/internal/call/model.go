package call

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"sipmedia/mediad/internal/player"
	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/sdp"
	"sipmedia/mediad/internal/webrtc"
)

// Call is one SIP call (one call-id). All its signalling state is guarded
// by mu; the registry's own lock only covers the map of calls.
type Call struct {
	ID string

	mu sync.Mutex

	// gone is set (under mu) once the call has been removed from the
	// registry; a request that found the call before that retries.
	gone bool

	created    time.Time
	lastSignal time.Time
	proxy      string // address of the proxy that created the call
	answered   bool   // an answer completed at least once (offer timeout stops)

	// deleteAt schedules deletion of the whole call (delete-delay).
	deleteAt time.Time

	// block is what block/silence commands without a party set for the
	// whole call (block.go).
	block blocking
	// tos is the IP TOS of the call's media sockets (offerTOS).
	tos int
	// rec is the call's recording (recording.go).
	rec recState
	// rtcpHooks reports this call's RTCP to Homer and the RTCP log
	// (Registry.rtcpHooksOf); nil until first needed.
	rtcpHooks *rtcpHooks
	// ssrcMu guards the parties' SSRC tables (mos.go), which the relay's
	// goroutines fill from RTCP without the call's mu.
	ssrcMu sync.Mutex

	monologues []*Monologue // creation order
	loopID     string       // a=rtpengine:<id> of loop-protect, one per call
	untagged   int          // counter for "<untagged N>" keys
}

// Monologue is one party of the call, identified by its SIP tag. Its
// medias' sockets are the ones this party sends to, and the endpoints are
// this party's addresses from its SDP.
type Monologue struct {
	Tag       string
	Label     string
	ViaBranch string
	Created   time.Time

	// key is the name used in query output: the tag, or "<untagged N>".
	untaggedKey string
	// peer is the monologue in dialogue with this one.
	peer *Monologue
	// subscriptions are the parties this one receives media from, and
	// subscribers those receiving its media, newest first (rtpengine's
	// statistics; a fork leaves the caller subscribed to every branch).
	subscriptions, subscribers []*Monologue
	// zombie: deleted as a branch; kept for statistics, sockets released.
	zombie bool
	// answerer: created as the receiving side of an offer (the "TO_TAG";
	// our ICE role toward it is controlling until an ICE restart, see
	// iceControlling).
	answerer bool
	// sdpSeen: this party has sent an SDP ("initialized").
	sdpSeen bool
	// deleteAt schedules deletion of just this monologue (branch delete).
	deleteAt time.Time
	// terminated is when a delete command named the call (rtpengine's
	// ml->terminated, for the recording's metadata and the CDR), and
	// termReason why (cdr.go).
	terminated time.Time
	termReason string
	// recForwarding: start forwarding named this party (recording.go).
	recForwarding bool
	// block is what block/silence commands set for this party's media.
	block blocking
	// injectDTMF: this party's offer or answer carried rtpengine's
	// "inject DTMF", so play DTMF may put digits into what it sends
	// (dtmf.go). Once given it stays, as in rtpengine.
	injectDTMF bool
	// playedMedia: play media named this party once (stop media then
	// answers ok, playing or not, as rtpengine does).
	playedMedia bool
	// pubsub: this party is a subscription (subscribe request), which
	// receives copies of its subscriptions' media (subscribe.go).
	pubsub bool
	// rtcpMirror: this subscription sends its RTCP back to the parties
	// it receives from (flag RTCP mirror).
	rtcpMirror bool
	// lastSDP is the SDP this party sent last, as parsed; a subscription
	// to it mirrors its media sections.
	lastSDP *sdp.Session
	// ssrc is the party's SSRC table for the quality figures (mos.go),
	// guarded by the call's ssrcMu.
	ssrc map[uint32]*ssrcStats

	Medias []*Media

	// Output state for SDPs sent to this party.
	out outState
	// ICE credentials rtpengine-style, stable for this party.
	iceUfrag, icePwd string
}

// outState remembers what we told a party, for replace-origin,
// origin-full, SDP-version and friends.
type outState struct {
	sent        bool
	version     uint64
	versionSet  bool
	lastBody    string // output without the o= line, to detect changes
	username    string
	sessionName string
}

// Media is one m= line of a monologue's session.
type Media struct {
	Index    int // 1-based, as rtpengine reports it
	Type     string
	Protocol string
	// Port is the port this party put in its m= line (0 = rejected).
	Port int
	// Formats are this party's m= formats; Ptime its a=ptime ("" = none).
	Formats []string
	Ptime   string
	// Direction this party declared (after hold adjustment): may it send,
	// may it receive.
	Send, Recv bool
	// FlagSend/FlagRecv are rtpengine's "send"/"recv" media flags: it
	// sends to this party / receives from it.
	FlagSend, FlagRecv bool
	// RTCPMuxOffered: this party's SDP carried a=rtcp-mux.
	RTCPMuxOffered bool
	// Mux: RTCP is multiplexed on the RTP port for this party.
	Mux bool
	// MuxFlags are the rtcp-mux options of the offer that created this
	// media's negotiation (kept for the answer).
	MuxFlags map[string]bool
	// ICE: this party's SDP carried ICE credentials or candidates;
	// Trickle: it announced a=ice-options:trickle.
	ICE, Trickle bool
	// iceRole is our ICE role toward this party as the last ICE restart
	// decided it (+1 controlling, -1 controlled); 0 before any restart.
	iceRole int8
	// iceLiteSelf: we are an ICE-lite agent toward this party
	// (rtpengine's ICE_LITE_SELF, set by an offer's ICE-lite key):
	// a=ice-lite in its SDP, no checks of ours, never controlling.
	iceLiteSelf bool
	// Passthru is rtpengine's passthrough: ICE=force-relay between two
	// ICE parties. Their ICE, DTLS and SDES attributes go through
	// untouched, our relay candidates are added, and the media plane
	// relays every datagram (STUN, DTLS, SRTP) as it came, so the parties'
	// encryption stays end to end. Once set it stays, as in rtpengine.
	Passthru bool
	// Mid is this party's a=mid ("" = none).
	Mid string
	// mediaID is the a=mid written toward this party (rtpengine's
	// media_id): the party's own once it offered one, else the one
	// first offered to it (copied from the offerer, or generated), kept
	// for the rest of the call.
	mediaID string
	// payloads classifies this party's payload types (DTMF events,
	// silence patterns, clock rates) for blocking and DTMF injection.
	payloads relay.Payloads
	// inject plays DTMF into what this party sends (its monologue's
	// injectDTMF); nil until needed.
	inject *relay.Injector
	// player sends play media's audio to this party; nil when none.
	player *player.Player
	// SentFormats are the payload types last offered to this party.
	SentFormats []string
	// Asymmetric, StrictSource, MediaHandover: latching flags from
	// signalling (shown in statistics; used by the relay).
	Asymmetric, StrictSource, MediaHandover bool
	// PierceNAT and NATWait are rtpengine's "pierce NAT" and "NAT-wait"
	// flags from this party's SDP messages, kept once given: send it
	// dummy RTP until it is heard from (nat.go); send it nothing before.
	PierceNAT, NATWait bool
	// Crypto and DTLS seen in this party's SDP; carried for the WebRTC
	// issue, not acted on yet.
	Crypto      []string
	Fingerprint string
	Setup       string
	// Remote is what this party's last SDP said about ICE, DTLS and SDES;
	// sec is the SRTP negotiation toward this party (nil until SRTP is
	// written toward it).
	Remote webrtc.Remote
	sec    *webrtc.Security
	// rtcpHook is the relay's RTCP hook of this media (mos.go), made
	// once.
	rtcpHook *mediaRTCP
	secState mediaSecurityState
	// neg is rtpengine's view of the negotiation, for query (negflags.go).
	neg negFlags

	// Family is the address family used toward this party.
	Family string // "IP4" or "IP6"
	// Interface is the logical interface this party's sockets live on.
	Interface string

	pair    *ports.Pair
	Streams [2]*Stream // RTP, RTCP

	// source is, for a subscription's media, the party's media it
	// copies.
	source *Media
}

// Stream is one component (RTP or RTCP) of a media: a local socket that
// this party sends to. Counters are atomic so the relay can update them
// without any signalling lock.
type Stream struct {
	RTCP      bool
	LocalPort int
	LocalAddr netip.Addr
	// Endpoint is the address from signalling (SDP, or SIP source).
	Endpoint netip.AddrPort
	// Advertised is the address the SDP advertised (before received-from).
	Advertised netip.AddrPort

	// Pair holds this stream's sockets (Pair.Conns(LocalAddr)); it never
	// changes for the life of the stream.
	Pair *ports.Pair

	Packets, Bytes, Errors atomic.Uint64
	// LastPacket is unix nanoseconds of the last packet received (0: none).
	LastPacket atomic.Int64

	fwd  atomic.Pointer[Forwarding]
	rs   *relay.Stream // relay on this socket (relay.go); guarded by the call's mu
	kern kernelStream  // kernel fast path state (kernel.go)
}

// Forwarding is the immutable snapshot a packet needs: where this
// stream's packets go. Signalling builds a new one for every change and
// swaps it in with SetForwarding; the relay loads it per packet.
type Forwarding struct {
	// Sink is the stream whose socket sends what arrives here, to the
	// sink's Peer.
	Sink *Stream
	// Peer is where packets sent from this stream's socket go (the
	// endpoint of the party owning this stream).
	Peer netip.AddrPort
	// Local is the address of this stream's socket to send from
	// (Stream.Pair.Conns(Local)). Relay code reads Forwarding, never the
	// Stream's own mutable fields.
	Local netip.Addr
	// Send: the owning party may send (it is not recvonly/inactive).
	Send bool
}

// Received accounts one packet of n bytes received at now. The relay calls
// it for every packet (or batch): the media timeout counts from the last
// one, so a wired relay must feed it.
func (s *Stream) Received(n int, now time.Time) {
	s.Packets.Add(1)
	s.Bytes.Add(uint64(n))
	s.LastPacket.Store(now.UnixNano())
}

// Forwarding returns the current forwarding snapshot (nil before signalling
// completed).
func (s *Stream) Forwarding() *Forwarding { return s.fwd.Load() }

// SetForwarding replaces the snapshot.
func (s *Stream) SetForwarding(f *Forwarding) { s.fwd.Store(f) }

// key is the name of the monologue in statistics.
func (m *Monologue) key() string {
	if m.Tag != "" {
		return m.Tag
	}
	return m.untaggedKey
}

// Peer returns the monologue in dialogue with this one.
func (m *Monologue) Peer() *Monologue { return m.peer }

func (c *Call) byTag(tag string) *Monologue {
	if tag == "" {
		return nil
	}
	for _, m := range c.monologues {
		if m.Tag == tag {
			return m
		}
	}
	return nil
}

// untaggedByBranch returns the pending party created for via-branch b.
func (c *Call) untaggedByBranch(b string) *Monologue {
	for _, m := range c.monologues {
		if m.Tag == "" && m.ViaBranch == b && !m.zombie {
			return m
		}
	}
	return nil
}

// byBranch returns the live party created for via-branch b, tagged by
// now or not (rtpengine's viabranches table).
func (c *Call) byBranch(b string) *Monologue {
	for _, m := range c.monologues {
		if m.ViaBranch == b && !m.zombie {
			return m
		}
	}
	return nil
}

// front puts m first in l (once).
func front(l []*Monologue, m *Monologue) []*Monologue {
	out := make([]*Monologue, 0, len(l)+1)
	out = append(out, m)
	for _, x := range l {
		if x != m {
			out = append(out, x)
		}
	}
	return out
}

func without(l []*Monologue, m *Monologue) []*Monologue {
	out := l[:0:0]
	for _, x := range l {
		if x != m {
			out = append(out, x)
		}
	}
	return out
}

// linkOffer records that a offered media to b (both directions pending).
func linkOffer(a, b *Monologue) {
	a.peer, b.peer = b, a
	a.subscriptions, a.subscribers = front(a.subscriptions, b), front(a.subscribers, b)
	b.subscriptions, b.subscribers = front(b.subscriptions, a), front(b.subscribers, a)
}

// linkAnswer records that b answered a's offer: a's media now goes to b
// alone, and any other branch stops receiving from a. Subscriptions to a
// (subscribe request) stay.
func linkAnswer(c *Call, a, b *Monologue) {
	a.peer, b.peer = b, a
	subs := []*Monologue{b}
	for _, x := range a.subscribers {
		if x.pubsub {
			subs = append(subs, x)
		}
	}
	a.subscribers = subs
	a.subscriptions = front(a.subscriptions, b)
	b.subscriptions, b.subscribers = front(b.subscriptions, a), front(b.subscribers, a)
	for _, x := range c.monologues {
		if x != b && !x.pubsub {
			x.subscriptions = without(x.subscriptions, a)
		}
	}
}

func (c *Call) newMonologue(tag string, now time.Time) *Monologue {
	m := &Monologue{Tag: tag, Created: now}
	if tag == "" {
		c.untagged++
		m.untaggedKey = "<untagged " + itoa(c.untagged) + ">"
	}
	c.monologues = append(c.monologues, m)
	return m
}

// dropSince forgets the parties created after the first n (a request that
// failed); they hold no sockets.
func (c *Call) dropSince(n int) {
	if n >= len(c.monologues) {
		return
	}
	gone := c.monologues[n:]
	c.monologues = c.monologues[:n]
	for _, x := range c.monologues {
		for _, m := range gone {
			x.subscriptions = without(x.subscriptions, m)
			x.subscribers = without(x.subscribers, m)
			if x.peer == m {
				x.peer = nil
			}
		}
	}
}

// iceControlling is our ICE role toward party m on media md as the
// offers decided it (RFC 8445 6.1.1, rtpengine's "ICE controlling"):
// controlling toward the party we made the first offer to, and after an
// ICE restart toward the party that received the restarting offer. A
// plain re-offer changes no role (RFC 8839 4.4.1). Never toward a party
// we are ICE-lite to; our agent also controls toward an ICE-lite party
// whatever this says.
func (m *Monologue) iceControlling(md *Media) bool {
	if md.iceLiteSelf {
		return false
	}
	if md.iceRole != 0 {
		return md.iceRole > 0
	}
	return m.answerer
}
