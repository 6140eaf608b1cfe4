package call

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/sdp"
	"sipmedia/mediad/internal/webrtc"
)

// Params are the parts of an offer or answer the registry acts on.
// Flag, replace and rtcp-mux names are canonical: lower-case with '-'
// ("trust-address", "origin-full", "require").
type Params struct {
	CallID, FromTag, ToTag, ViaBranch, Label string
	SDP                                      string

	Flags   map[string]bool
	Replace map[string]bool
	RTCPMux map[string]bool

	ICE               string // "", "remove", "force", ...
	DTLS              string
	DTLSFingerprint   string   // DTLS-fingerprint: hash for our a=fingerprint
	SDES              []string // SDES options: "off", "no-SUITE", "only-SUITE", ...
	TransportProtocol string
	MediaAddress      string
	AddressFamily     string // "IP4", "IP6" or ""
	ReceivedFrom      netip.Addr
	Interface         string
	Direction         []string
	// ICELite is the offer's ICE-lite key: "forward", "backward", "both",
	// "off" or "" (leave as it is).
	ICELite string
	// CodecStrip, CodecMask, CodecExcept: the codec dictionary's lists
	// (encoding names, "name/clock", or "all").
	CodecStrip, CodecMask, CodecExcept []string
	// Proxy is the address the request came from (CLI "proxy:").
	Proxy string
	// TOS is the offer's TOS key, for the whole call (HasTOS: present).
	TOS    int
	HasTOS bool
	// RecordCall is the "record call" key; Metadata the call's metadata
	// for recording (recording.go).
	RecordCall, Metadata string
}

func (p *Params) flag(f string) bool { return p.Flags[f] }

// Result is what an offer or answer produced: the SDP for the other
// party and, while the call is recorded, its recording file.
type Result struct {
	SDP        string
	Recordings []string
}

// Signal handles an offer or, with answer, an answer.
func (r *Registry) Signal(p *Params, answer bool) (Result, error) {
	if answer {
		return r.answer(p)
	}
	return r.offer(p)
}

// Offer is Signal for an offer, returning the SDP only.
func (r *Registry) Offer(p *Params) (string, error) {
	res, err := r.offer(p)
	return res.SDP, err
}

// Answer is Signal for an answer, returning the SDP only.
func (r *Registry) Answer(p *Params) (string, error) {
	res, err := r.answer(p)
	return res.SDP, err
}

// offer creates or updates the call and the offerer's monologue,
// allocates ports for both sides of every media, and returns the SDP to
// send to the other party.
func (r *Registry) offer(p *Params) (Result, error) {
	in, err := r.parseInput(p.SDP)
	if err != nil {
		return Result{}, err
	}
	now := time.Now()
	c, created, err := r.lookupOrCreate(p.CallID, now)
	if err != nil {
		return Result{}, err
	}
	defer c.mu.Unlock()
	out, err := r.offerLocked(c, p, in, now)
	if err != nil {
		if created {
			r.destroyLocked(c, "offer failed", now)
		}
		r.log.Warn("offer failed", "call-id", p.CallID, "from-tag", p.FromTag, "err", err)
		return Result{}, err
	}
	if r.infoOn() {
		r.log.Info("offer", "call-id", p.CallID, "from-tag", p.FromTag, "medias", len(in.Media))
	}
	return Result{SDP: out, Recordings: c.recordings()}, nil
}

// answer handles an answer from the to-tag party and returns the SDP for
// the offerer (the from-tag party).
func (r *Registry) answer(p *Params) (Result, error) {
	in, err := r.parseInput(p.SDP)
	if err != nil {
		return Result{}, err
	}
	c := r.lookup(p.CallID)
	if c == nil {
		return Result{}, ErrUnknownCall
	}
	defer c.mu.Unlock()
	now := time.Now()
	n0 := len(c.monologues)
	offerer := c.byTag(p.FromTag)
	if offerer == nil {
		// rtpengine 10.5 accepts an answer naming a party it has not seen
		// (tags swapped by a proxy, a lost offer): the party is created.
		offerer = c.newMonologue(p.FromTag, now)
	}
	answerer := c.byTag(p.ToTag)
	if answerer == nil {
		// The pending party of this branch (by via-branch), else the
		// offerer's pending party, takes the to-tag; a second answer with
		// a new tag (a fork) gets a party of its own.
		if p.ViaBranch != "" {
			answerer = c.untaggedByBranch(p.ViaBranch)
		}
		if answerer == nil && offerer.peer != nil && offerer.peer.Tag == "" {
			answerer = offerer.peer
		}
		if answerer == nil {
			for _, x := range offerer.subscribers {
				if x.Tag == "" && !x.zombie {
					answerer = x
					break
				}
			}
		}
		if answerer == nil {
			answerer = c.newMonologue(p.ToTag, now)
			answerer.answerer = true
		}
		answerer.Tag = p.ToTag
	}
	linkAnswer(c, offerer, answerer)
	out, err := r.signalLocked(c, p, in, answerer, offerer, true, now)
	if err != nil {
		c.dropSince(n0)
		r.log.Warn("answer failed", "call-id", p.CallID, "from-tag", p.FromTag, "to-tag", p.ToTag, "err", err)
		return Result{}, err
	}
	c.answered = true
	if r.infoOn() {
		r.log.Info("answer", "call-id", p.CallID, "from-tag", p.FromTag, "to-tag", p.ToTag)
	}
	return Result{SDP: out, Recordings: c.recordings()}, nil
}

// parseInput parses an SDP a party sent (rtpengine's sdp_parse and its
// checks).
func (r *Registry) parseInput(text string) (*sdp.Session, error) {
	in, err := sdp.ParseOpts(text, sdp.Options{Strict: r.cfg.RejectInvalidSDP})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParseSDP, err)
	}
	if len(in.Media) == 0 {
		return nil, ErrRewriteSDP
	}
	for _, m := range in.Media {
		if m.Connection == nil && in.Connection == nil {
			return nil, ErrIncompleteSDP
		}
	}
	return in, nil
}

func (r *Registry) offerLocked(c *Call, p *Params, in *sdp.Session, now time.Time) (string, error) {
	n0 := len(c.monologues)
	from := c.byTag(p.FromTag)
	if from == nil {
		from = c.newMonologue(p.FromTag, now)
	}
	var to *Monologue
	if p.ToTag != "" {
		to = c.byTag(p.ToTag)
	}
	if to == nil && p.ViaBranch != "" {
		to = c.untaggedByBranch(p.ViaBranch)
		if to == nil && from.peer != nil && from.peer.ViaBranch != "" && from.peer.ViaBranch != p.ViaBranch {
			// The same offer on another branch (a fork): a new party with
			// sockets of its own.
			to = c.newMonologue("", now)
			to.answerer = true
		}
	}
	if to == nil {
		to = from.peer
	}
	if to == nil {
		to = c.newMonologue("", now)
		to.answerer = true
	}
	linkOffer(from, to)
	c.tos = offerTOS(c.tos, p, r.cfg.TOS)
	if c.proxy == "" {
		c.proxy = p.Proxy
	}
	if p.ViaBranch != "" && to.Tag == "" {
		to.ViaBranch = p.ViaBranch
	}
	c.deleteAt = time.Time{}
	from.deleteAt, to.deleteAt = time.Time{}, time.Time{}
	out, err := r.signalLocked(c, p, in, from, to, false, now)
	if err != nil {
		c.dropSince(n0)
	}
	if err == nil && p.flag("reject-ice") {
		// reject-ICE: the answer to this offerer carries no ICE.
		for _, md := range from.Medias {
			md.ICE = false
		}
	}
	return out, err
}

// signalLocked applies src's SDP to the model and builds the SDP for dst.
func (r *Registry) signalLocked(c *Call, p *Params, in *sdp.Session, src, dst *Monologue, answer bool, now time.Time) (string, error) {
	if p.flag("loop-protect") && c.loopID != "" {
		// Our own output coming back: pass it through untouched, as
		// rtpengine does, so the loop ends here.
		for _, v := range in.AttrValues("rtpengine") {
			if v == c.loopID {
				return p.SDP, nil
			}
		}
	}
	c.lastSignal = now
	if p.Label != "" {
		src.Label = p.Label
	}
	r.recordFlags(c, p)
	srcIfName, srcIfs := r.interfaceAddrs(pickInterface(p, answer, 0))
	dstIfName, dstIfs := r.interfaceAddrs(pickInterface(p, answer, 1))
	if len(srcIfs) == 0 || len(dstIfs) == 0 {
		return "", fmt.Errorf("%w: no interface configured", ErrNoPorts)
	}
	// Allocate first, so that running out of ports changes nothing else.
	// Sockets are bound only on the addresses of the family in use (as
	// rtpengine does), on every address of the interface when ICE
	// candidates will be written.
	type grant struct {
		md  *Media
		old *ports.Pair
	}
	var fresh []grant
	undo := func() {
		for _, g := range fresh {
			r.alloc.Release(g.md.pair)
			g.md.pair = g.old
		}
	}
	for k, side := range []struct {
		m   *Monologue
		ifn string
		ifs []Interface
	}{{src, srcIfName, srcIfs}, {dst, dstIfName, dstIfs}} {
		for i, m := range in.Media {
			md := mediaAt(side.m, i)
			if m.Port == 0 {
				continue
			}
			want := bindAddrs(side.ifs, sideFamily(in, i, p, dst, answer, k == 1), needICE(in, i, p, dst, k == 0))
			one := onePort(m, p, md, answer, k == 0)
			if answer && k == 0 && md.pair != nil {
				// The answerer was told these ports in the offer: an
				// answer never moves them (ICE toward the offerer does
				// not need the answerer's sockets on more addresses).
				continue
			}
			if md.pair != nil && covers(md.pair, want) && (one || !md.pair.Single()) {
				// Kept, also as a pair where one port would do, as in
				// rtpengine; a single port that now needs RTCP's goes.
				continue
			}
			pair, err := r.allocate(want, one)
			if err != nil {
				undo()
				return "", err
			}
			fresh = append(fresh, grant{md: md, old: md.pair})
			md.pair = pair
			md.Interface = side.ifn
		}
	}
	for _, g := range fresh {
		if g.old != nil {
			// Re-bound for another family or for ICE: the old sockets go.
			for _, s := range g.md.Streams {
				s.SetForwarding(nil)
			}
			stopRelay(g.md)
			r.alloc.Release(g.old)
		}
		initStreams(g.md, ifsOf(r, g.md.Interface))
	}
	// A rejected media (port 0) gives up its sockets on both sides.
	for i, m := range in.Media {
		if m.Port == 0 {
			r.releaseMedia(src.Medias[i])
			r.releaseMedia(dst.Medias[i])
		}
	}
	if !answer {
		for i := range in.Media {
			setICELite(p.ICELite, src.Medias[i], dst.Medias[i])
		}
	}
	src.sdpSeen = true
	src.lastSDP = in
	for _, i := range applyRemote(src, in, p, r.cfg.SIPSource, r.setLocal) {
		if answer || i >= len(dst.Medias) {
			continue
		}
		// An ICE restart in an offer decides the roles again: the
		// restarting party controls, and rtpengine's flags then show us
		// controlling toward the other party. Toward another ICE party,
		// which restarted nothing, our agent keeps its role.
		src.Medias[i].iceRole = -1
		if !dst.Medias[i].ICE {
			dst.Medias[i].iceRole = 1
		}
	}
	if answer {
		// After an answer rtpengine's flags for the offerer follow what
		// the answerer accepted.
		for i := range in.Media {
			if i < len(dst.Medias) {
				dst.Medias[i].FlagSend, dst.Medias[i].FlagRecv = src.Medias[i].Send, src.Medias[i].Recv
			}
		}
	}
	if answer {
		// The answerer's SRTP answer to what we offered it.
		for i := range in.Media {
			if md := src.Medias[i]; md.sec != nil {
				md.sec.SetAnswer(md.Remote)
			}
		}
	}
	if p.ICE == "force-relay" {
		// rtpengine's __ice_offer: ICE on both sides without ICE=force
		// means media may not pass through us; it stops terminating.
		for i := range in.Media {
			if src.Medias[i].ICE {
				src.Medias[i].Passthru, dst.Medias[i].Passthru = true, true
			}
		}
	}
	if !answer {
		for i := range in.Media {
			md := src.Medias[i]
			md.MuxFlags = p.RTCPMux
			dm := dst.Medias[i]
			// rtpengine's __update_media_id: the offerer's mid is its
			// own; the receiver's is set once.
			if md.Mid != "" {
				md.mediaID = md.Mid
			}
			if dm.mediaID == "" {
				dm.mediaID = md.mediaID
				if dm.mediaID == "" && p.flag("generate-mid") {
					dm.mediaID = strconv.Itoa(md.Index)
				}
			}
			dm.Type, dm.Protocol = md.Type, outProto(md.Protocol, p.TransportProtocol)
			// Latching flags of an offer apply to the whole media.
			dm.Asymmetric = dm.Asymmetric || md.Asymmetric
			dm.StrictSource = dm.StrictSource || md.StrictSource
		}
	}
	out, err := r.buildSDP(c, in, p, src, dst, answer)
	if err != nil {
		return "", err
	}
	noteNegotiation(p, r.securityOptions(p), in, src, dst, answer)
	updateForwarding(src, dst)
	r.updateRelay(c, src, dst)
	r.noteSDP(c, src, answer, out)
	return out, nil
}

// sideFamily is the address family a side uses for media i: for the
// sender, its own SDP's; toward the receiver, address-family, else the
// receiver's own family in an answer, else the sender's.
func sideFamily(in *sdp.Session, i int, p *Params, dst *Monologue, answer, receiver bool) string {
	if receiver {
		if p.AddressFamily == "IP4" || p.AddressFamily == "IP6" {
			return p.AddressFamily
		}
		if answer && i < len(dst.Medias) && dst.Medias[i].Family != "" {
			return dst.Medias[i].Family
		}
	}
	c := in.Media[i].Connection
	if c == nil {
		c = in.Connection
	}
	if c != nil && c.Addr.Is6() && !c.Addr.Is4In6() {
		return "IP6"
	}
	return "IP4"
}

// needICE reports whether ICE candidates may be written for media i
// toward the receiver (dst) of this SDP, or with sender toward its
// sender. The ICE option concerns the receiver only: an ICE-capable
// sender is answered with ICE whatever it says, so its sockets are bound
// for that from the start and the answer does not move them, and a plain
// sender is not bound for ICE because the offer forces ICE toward the
// other side (rtpengine keeps its ports).
func needICE(in *sdp.Session, i int, p *Params, dst *Monologue, sender bool) bool {
	if sender {
		return sdpICE(in, i)
	}
	switch p.ICE {
	case "force", "force-relay":
		return true
	case "remove":
		return i < len(dst.Medias) && dst.Medias[i].ICE
	}
	return sdpICE(in, i) || i < len(dst.Medias) && dst.Medias[i].ICE
}

// sdpICE reports whether media i of an SDP speaks ICE.
func sdpICE(in *sdp.Session, i int) bool {
	if _, ok := in.Attr("ice-ufrag"); ok {
		return true
	}
	m := in.Media[i]
	if _, ok := m.Attr("ice-ufrag"); ok {
		return true
	}
	_, ok := m.Attr("candidate")
	return ok
}

// bindAddrs are the interface addresses to bind: all with ICE, else those
// of the family (or all, if the interface has none of it).
func bindAddrs(ifs []Interface, fam string, ice bool) []Interface {
	if ice {
		return ifs
	}
	var out []Interface
	for _, x := range ifs {
		if famOf(x.advertised()) == fam {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return ifs
	}
	return out
}

func covers(p *ports.Pair, want []Interface) bool {
	have := p.Addrs()
	for _, w := range want {
		found := false
		for _, a := range have {
			if a == w.Address {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// onePort reports whether a side's fresh sockets are one port without an
// RTCP socket, as rtpengine's proto_num_ports decides: RTP media whose
// RTCP is multiplexed toward that side for certain. In an offer that is
// the receiver when the offer forces mux, and the offerer (sender) when it
// offered mux and the flags accept or demux it; in an answer, the offerer
// when the answer toward it carries mux. rtcpLines writes the same.
func onePort(m *sdp.Media, p *Params, md *Media, answer, sender bool) bool {
	if !isRTP(m.Proto) {
		return false
	}
	_, offered := m.Attr("rtcp-mux")
	switch {
	case answer:
		return muxToOfferer(md, offered)
	case sender:
		f := p.RTCPMux
		return offered && !f["reject"] && (f["demux"] || f["accept"])
	default:
		return forcedMux(p, md)
	}
}

// muxToOfferer reports whether the answer toward the offerer (whose media
// is dm) multiplexes RTCP: it offered mux, the offer did not reject it,
// and the answerer took it (answered) or the offer's flags accept or demux
// it.
func muxToOfferer(dm *Media, answered bool) bool {
	f := dm.MuxFlags
	return dm.RTCPMuxOffered && !f["reject"] && (answered || f["demux"] || f["accept"])
}

// forcedMux reports whether an offer toward dm's party forces mux (no
// fallback RTCP port): rtcp-mux=require, or mux already in effect with
// that party, which rtpengine keeps since the RTCP port may be gone.
func forcedMux(p *Params, dm *Media) bool { return p.RTCPMux["require"] || dm.Mux }

// pickInterface chooses the logical interface name for one side: the
// direction list (offerer, answerer), or interface.
func pickInterface(p *Params, answer bool, side int) string {
	if len(p.Direction) == 2 {
		i := side
		if answer {
			i = 1 - side
		}
		return p.Direction[i]
	}
	return p.Interface
}

func ifsOf(r *Registry, name string) []Interface {
	_, ifs := r.interfaceAddrs(name)
	return ifs
}

// mediaAt returns media i of m, creating entries up to it.
func mediaAt(m *Monologue, i int) *Media {
	for len(m.Medias) <= i {
		md := &Media{Index: len(m.Medias) + 1, Send: true, Recv: true, FlagSend: true, FlagRecv: true}
		md.Streams = [2]*Stream{{}, {RTCP: true}}
		m.Medias = append(m.Medias, md)
	}
	return m.Medias[i]
}

// initStreams gives a media fresh streams on its newly allocated pair,
// keeping the endpoints known so far. Streams never change their pair, so
// a relay holding one never sees its sockets swapped.
func initStreams(md *Media, ifs []Interface) {
	var local netip.Addr
	if len(ifs) > 0 {
		local = ifs[0].Address
	}
	old := md.Streams
	md.Streams[0] = &Stream{LocalPort: md.pair.RTP, LocalAddr: local, Pair: md.pair}
	md.Streams[1] = &Stream{RTCP: true, LocalPort: md.pair.RTCP, LocalAddr: local, Pair: md.pair}
	for k, s := range old {
		if s != nil {
			md.Streams[k].Endpoint, md.Streams[k].Advertised = s.Endpoint, s.Advertised
		}
	}
}

// outProto is the protocol written toward the other side. Conversions to
// SRTP profiles need mediad to generate keys (the WebRTC issue); until
// then only a plain target profile (RTP/AVP, RTP/AVPF) is applied.
func outProto(in, want string) string {
	if want == "" || strings.EqualFold(want, "accept") {
		return in
	}
	switch strings.ToUpper(want) {
	case "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF":
		return strings.ToUpper(want)
	}
	return in
}

// applyRemote records what src's SDP says about src: endpoints,
// directions, rtcp-mux, ICE and crypto state.
//
// It returns the indexes of the media whose ICE credentials src changed
// (an ICE restart), nil when none did.
func applyRemote(src *Monologue, in *sdp.Session, p *Params, sipSource bool, setLocalFn func(*Media, string)) (restarted []int) {
	sessICE := false
	if _, ok := in.Attr("ice-ufrag"); ok {
		sessICE = true
	}
	sessTrickle := false
	for _, v := range in.AttrValues("ice-options") {
		if strings.Contains(v, "trickle") {
			sessTrickle = true
		}
	}
	useSource := p.ReceivedFrom.IsValid() && (p.flag("sip-source-address") || (sipSource && !p.flag("trust-address")))
	if p.flag("inject-dtmf") {
		src.injectDTMF = true
	}
	for i, m := range in.Media {
		md := src.Medias[i]
		md.Protocol, _ = webrtc.RTPProto(m.Proto) // rtpengine writes "rtp/avp" as RTP/AVP
		md.Type, md.Port = m.Type, m.Port
		md.Formats = m.Formats
		md.payloads = classifyPayloads(m)
		md.Ptime = ""
		if a, ok := m.Attr("ptime"); ok {
			md.Ptime = a.Value
		}
		conn := m.Connection
		if conn == nil {
			conn = in.Connection
		}
		dir := direction(in.Lines, m.Lines)
		md.RTCPMuxOffered = false
		md.ICE, md.Trickle = sessICE, sessTrickle
		md.Mid = ""
		md.Crypto = nil
		prevICE := md.Remote.ICE
		md.Remote = parseRemoteSecurity(in, m)
		if prevICE.Ufrag != "" && md.Remote.ICE.Ufrag != "" && prevICE != md.Remote.ICE {
			// The party restarted ICE: our side restarts too (new
			// credentials in the SDP we write back to it).
			src.iceUfrag, src.icePwd = "", ""
			restarted = append(restarted, i)
		}
		if p.flag("asymmetric") {
			md.Asymmetric = true
		}
		if p.flag("strict-source") {
			md.StrictSource = true
		}
		if p.flag("media-handover") {
			md.MediaHandover = true
		}
		if p.flag("pierce-nat") {
			md.PierceNAT = true
		}
		if p.flag("nat-wait") {
			md.NATWait = true
		}
		rtcpPort := m.Port + 1
		var rtcpAddr netip.Addr
		for _, a := range sdp.Attrs(m.Lines) {
			switch strings.ToLower(a.Name) {
			case "rtcp-mux":
				md.RTCPMuxOffered = true
			case "rtcp":
				f := strings.Fields(a.Value)
				if len(f) > 0 {
					if n, err := parsePort(f[0]); err == nil {
						rtcpPort = n
					}
				}
				if len(f) == 4 {
					if ad, err := netip.ParseAddr(f[3]); err == nil {
						rtcpAddr = ad
					}
				}
			case "ice-ufrag", "candidate":
				md.ICE = true
			case "ice-options":
				if strings.Contains(a.Value, "trickle") {
					md.Trickle = true
				}
			case "mid":
				md.Mid = a.Value
			case "crypto":
				md.Crypto = append(md.Crypto, a.Value)
			case "fingerprint":
				md.Fingerprint = a.Value
			case "setup":
				md.Setup = a.Value
			}
		}
		send, recv := dirBits(dir)
		if conn.IsZero() && !md.ICE {
			// A hold address cannot receive (with ICE, 0.0.0.0 only
			// means "see the candidates").
			recv = false
		}
		md.Send, md.Recv = send, recv
		// rtpengine's media flags are its own view: it sends to a party
		// that receives, receives from a party that sends.
		md.FlagSend, md.FlagRecv = recv, send
		if conn.Addr.Is4() {
			md.Family = "IP4"
		} else {
			md.Family = "IP6"
		}
		if md.Streams[0] != nil {
			setLocalFn(md, md.Family)
		}
		addr := conn.Addr
		adv := netip.AddrPortFrom(addr, uint16(m.Port))
		advRTCP := netip.AddrPortFrom(addr, uint16(rtcpPort))
		if rtcpAddr.IsValid() {
			advRTCP = netip.AddrPortFrom(rtcpAddr, uint16(rtcpPort))
		}
		ep, epRTCP := adv, advRTCP
		if useSource {
			ep = netip.AddrPortFrom(p.ReceivedFrom, uint16(m.Port))
			epRTCP = netip.AddrPortFrom(p.ReceivedFrom, uint16(rtcpPort))
			adv, advRTCP = ep, epRTCP
		}
		if md.RTCPMuxOffered && rtcpPort == m.Port {
			epRTCP = ep
		}
		if md.Streams[0] != nil {
			md.Streams[0].Endpoint, md.Streams[0].Advertised = ep, adv
			md.Streams[1].Endpoint, md.Streams[1].Advertised = epRTCP, advRTCP
		}
	}
	return restarted
}

// direction returns the direction attribute in effect for a media, as
// rtpengine 10.5 picks it: the first of recvonly, sendonly, inactive,
// sendrecv present at media or session level ("" if none).
func direction(sess, media []sdp.Line) string {
	have := map[string]bool{}
	for _, ls := range [][]sdp.Line{sess, media} {
		for _, a := range sdp.Attrs(ls) {
			if isDirection(a.Name) {
				have[strings.ToLower(a.Name)] = true
			}
		}
	}
	for _, d := range []string{"recvonly", "sendonly", "inactive", "sendrecv"} {
		if have[d] {
			return d
		}
	}
	return ""
}

func isDirection(s string) bool {
	switch strings.ToLower(s) {
	case "sendrecv", "sendonly", "recvonly", "inactive":
		return true
	}
	return false
}

func dirBits(d string) (send, recv bool) {
	switch d {
	case "sendonly":
		return true, false
	case "recvonly":
		return false, true
	case "inactive":
		return false, false
	}
	return true, true
}

func dirName(send, recv bool) string {
	switch {
	case send && recv:
		return "sendrecv"
	case send:
		return "sendonly"
	case recv:
		return "recvonly"
	}
	return "inactive"
}

func parsePort(s string) (int, error) {
	n := 0
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(ch-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// updateForwarding publishes new snapshots for both parties' streams:
// what arrives from src goes out of dst's sockets to dst, and back.
func updateForwarding(a, b *Monologue) {
	n := len(a.Medias)
	if len(b.Medias) < n {
		n = len(b.Medias)
	}
	for i := 0; i < n; i++ {
		ma, mb := a.Medias[i], b.Medias[i]
		for k := 0; k < 2; k++ {
			sa, sb := ma.Streams[k], mb.Streams[k]
			if sa == nil || sb == nil {
				continue
			}
			if sa.Pair == nil || sb.Pair == nil {
				continue
			}
			sa.SetForwarding(&Forwarding{Sink: sb, Peer: sa.Endpoint, Local: sa.LocalAddr, Send: ma.Send})
			sb.SetForwarding(&Forwarding{Sink: sa, Peer: sb.Endpoint, Local: sb.LocalAddr, Send: mb.Send})
		}
	}
}

// setICELite applies an offer's ICE-lite key to the offerer's media from
// and the receiver's to: "forward" makes us ICE-lite toward the receiver,
// "backward" toward the offerer, "both" toward both; "off" clears both
// and "" leaves them (rtpengine's __ice_offer).
func setICELite(v string, from, to *Media) {
	switch v {
	case "off":
		from.iceLiteSelf, to.iceLiteSelf = false, false
	case "forward":
		from.iceLiteSelf, to.iceLiteSelf = false, true
	case "backward":
		from.iceLiteSelf, to.iceLiteSelf = true, false
	case "both":
		from.iceLiteSelf, to.iceLiteSelf = true, true
	}
}

// offerTOS is the call's TOS after an offer, as rtpengine's __tos_change:
// a negative TOS key changes nothing, none or one above 255 restores the
// default, anything else is taken.
func offerTOS(cur int, p *Params, def int) int {
	switch {
	case p.HasTOS && p.TOS < 0:
		return cur
	case !p.HasTOS || p.TOS > 255:
		return def
	}
	return p.TOS
}
