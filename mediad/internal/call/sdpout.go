package call

import (
	"crypto/rand"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"

	"sipmedia/mediad/internal/sdp"
	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/ice"
)

// buildSDP writes the SDP for dst from src's SDP the way rtpengine 10.5
// does: the input's lines are kept in order, minus the attributes
// rtpengine consumes (codecs, direction, rtcp, ICE, crypto, DTLS, ptime,
// mid), with connection addresses and ports replaced; the consumed
// attributes are regenerated at the end of each media section.
func (r *Registry) buildSDP(c *Call, in *sdp.Session, p *Params, src, dst *Monologue, answer bool) (string, error) {
	out := &sdp.Session{Version: in.Version, Name: in.Name, HasName: in.HasName}

	// famFor is the address family written toward dst for media i: the
	// address-family key, else dst's own family in an answer (bridging an
	// IPv6 caller stays IPv6 for it), else the family of src's SDP.
	famFor := func(i int) string {
		if p.AddressFamily == "IP4" || p.AddressFamily == "IP6" {
			return p.AddressFamily
		}
		if answer && dst.Medias[i].Family != "" {
			return dst.Medias[i].Family
		}
		return src.Medias[i].Family
	}
	sessFam := famFor(0)
	if !answer && p.AddressFamily == "" && in.Connection != nil {
		sessFam = in.Connection.AddrType
	}
	sessLocal := r.localAddr(dst.Medias[0].Interface, sessFam)
	// In passthrough (ICE=force-relay between ICE parties) rtpengine
	// leaves the session part as it came: origin, c= and attributes. The
	// SDP follows the media's passthrough, which stays once set, so that
	// what is written always matches what the media plane does (rtpengine
	// would rewrite m= and c= of a later message without force-relay
	// while still relaying ICE and DTLS untouched).
	sessPass := dst.Medias[0].Passthru

	if in.HasOrigin {
		out.HasOrigin = true
		o := in.Origin
		st := &dst.out
		if !st.sent {
			st.username, st.sessionName = o.Username, in.Name
		}
		if p.Replace["username"] {
			o.Username = st.username
		}
		if p.Replace["session-name"] {
			out.Name = st.sessionName
		}
		if p.Replace["origin"] && !sessPass {
			o.AddrType, o.Address = famOf(sessLocal), sessLocal.String()
		}
		out.Origin = o
	}

	// With a c= in every media section the session-level one addresses
	// nothing, and rtpengine leaves it as it came unless told to replace
	// it (replace: session-connection).
	keepSessConn := len(in.Media) > 0 && !p.Replace["session-connection"]
	for _, m := range in.Media {
		keepSessConn = keepSessConn && m.Connection != nil
	}
	for _, l := range in.Lines {
		switch l.Type {
		case 'c':
			if !keepSessConn && !sessPass {
				l.Value = r.connLine(l.Value, p, dst.Medias[0].Interface, sessFam, src.Medias[0].ICE)
			}
			out.Lines = append(out.Lines, l)
			continue
		case 'a':
			name := sdp.ParseAttr(l.Value).Name
			if strings.EqualFold(name, "extmap") && p.flag("strip-extmap") {
				continue
			}
			if !sessPass && consumedSession(name) && !(isDirection(name) && p.flag("original-sendrecv")) &&
				!(strings.EqualFold(name, "group") && keepBundle(in, p, src, dst, answer)) {
				continue
			}
		}
		out.Lines = append(out.Lines, l)
	}
	if p.flag("loop-protect") {
		if c.loopID == "" {
			c.loopID = randomString(12, hexDigits)
		}
		out.Lines = append(out.Lines, sdp.Line{Type: 'a', Value: "rtpengine:" + c.loopID})
	}
	if len(in.Media) > 0 && dst.Medias[0].iceLiteSelf && !sessPass && sendsICE(p, src.Medias[0], dst.Medias[0], answer) {
		// Where rtpengine writes it: after the carried attributes and
		// the loop-protect one, by the first media's ICE.
		out.Lines = append(out.Lines, sdp.Line{Type: 'a', Value: "ice-lite"})
	}

	for i, m := range in.Media {
		sm, dm := src.Medias[i], dst.Medias[i]
		om := &sdp.Media{Type: m.Type, Proto: dm.Protocol, Formats: m.Formats, NumPorts: m.NumPorts}
		// pass: the m= line, c= and the parties' transport attributes stay
		// as they came; only our relay candidates are added.
		pass := dm.Passthru
		if pass {
			om.Proto = m.Proto
		} else if answer {
			// Toward the offerer: its own protocol, unless told otherwise.
			om.Proto = dm.Protocol
			if tp := p.TransportProtocol; tp != "" && !strings.EqualFold(tp, "accept") {
				om.Proto = outProto(m.Proto, tp)
			}
		}
		if om.Proto == "" {
			om.Proto = m.Proto
		}
		fam := famFor(i)
		if pass {
			om.Port = m.Port
		} else if m.Port != 0 && dm.pair != nil {
			om.Port = dm.pair.RTP
		}
		r.setLocal(dm, fam)
		rtp := isRTP(m.Proto)
		keepDir := p.flag("original-sendrecv")
		var (
			rtpmaps = map[string]string{}
			fmtps   = map[string][]string{}
			fbs     = map[string][]string{}
			ptime   string
			eoc     bool // the party ended its candidates (written again last)
		)
		for _, l := range m.Lines {
			if l.Type == 'c' {
				if !pass {
					l.Value = r.connLine(l.Value, p, dm.Interface, fam, sm.ICE)
				}
				om.Lines = append(om.Lines, l)
				continue
			}
			if l.Type != 'a' {
				om.Lines = append(om.Lines, l)
				continue
			}
			a := sdp.ParseAttr(l.Value)
			name := strings.ToLower(a.Name)
			switch name {
			case "rtpmap", "fmtp":
				if !rtp {
					om.Lines = append(om.Lines, l)
					continue
				}
				pt, rest, _ := strings.Cut(a.Value, " ")
				if name == "rtpmap" {
					if _, dup := rtpmaps[pt]; !dup {
						rtpmaps[pt] = rest
					}
				} else {
					fmtps[pt] = append(fmtps[pt], rest)
				}
				continue
			case "rtcp-fb":
				pt, rest, _ := strings.Cut(a.Value, " ")
				if !rtp || pt == "*" {
					om.Lines = append(om.Lines, l)
					continue
				}
				fbs[pt] = append(fbs[pt], rest)
				continue
			case "ptime":
				ptime = a.Value
				continue
			case "mid":
				continue
			case "extmap":
				if p.flag("strip-extmap") {
					continue
				}
			case "sendrecv", "sendonly", "recvonly", "inactive":
				if keepDir {
					om.Lines = append(om.Lines, l)
				}
				continue
			}
			if pass {
				// rtpengine's process_media_attributes in passthrough: the
				// party's relay candidates make way for ours.
				if name == "end-of-candidates" {
					eoc = true
					continue
				}
				if name == "candidate" && isRelayCandidate(a.Value) {
					continue
				}
			} else if consumedMedia(name) {
				continue
			}
			om.Lines = append(om.Lines, l)
		}
		// codecs are the payload types written as a=rtpmap; the m= line
		// lists them too, except in passthrough, where it stays as it came.
		codecs := om.Formats
		if rtp {
			if answer {
				offered := sm.SentFormats
				if offered == nil {
					offered = dm.Formats
				}
				codecs = answerFormats(m.Formats, offered)
				if p.flag("single-codec") {
					codecs = singleCodec(codecs, rtpmaps)
				}
			} else {
				codecs = filterCodecs(m.Formats, rtpmaps, p)
				dm.SentFormats = codecs
			}
			if !pass {
				om.Formats = codecs
			}
		}
		out.Media = append(out.Media, om)
		if m.Port == 0 || dm.pair == nil {
			// A rejected stream keeps only its pass-through lines.
			continue
		}
		add := func(v string) { om.Lines = append(om.Lines, sdp.Line{Type: 'a', Value: v}) }
		if dm.mediaID != "" {
			add("mid:" + dm.mediaID)
		}
		if rtp {
			for _, pt := range codecs {
				add("rtpmap:" + pt + " " + monoDefault(encoding(rtpmaps, pt)))
				for _, f := range fmtps[pt] {
					add("fmtp:" + pt + " " + f)
				}
				for _, f := range fbs[pt] {
					add("rtcp-fb:" + pt + " " + f)
				}
			}
		}
		if !keepDir {
			add(dirName(sm.Send, sm.Recv))
		}
		mux := false
		if rtp {
			mux = r.rtcpLines(add, p, sm, dm, answer, fam, pass)
		}
		dm.secState.sentProto, dm.secState.sentICE = om.Proto, false
		if rtp && !pass {
			if err := r.securityLines(add, p, om.Proto, sm, dm, answer); err != nil {
				return "", err
			}
		}
		if ptime == "" {
			// rtpengine keeps the negotiated ptime: the other side's.
			ptime = dm.Ptime
		}
		if ptime != "" {
			add("ptime:" + ptime)
		}
		switch {
		case pass:
			r.candidateLines(add, dm, mux, "relay")
			if eoc {
				add("end-of-candidates")
			}
		case sendsICE(p, sm, dm, answer):
			dm.secState.sentICE = true
			r.iceLines(add, dst, dm, mux)
		}
	}
	r.versionLocked(out, in, p, &dst.out)
	return string(out.Marshal()), nil
}

// singleCodec keeps the first codec of an answer and the supplemental
// ones (DTMF events, comfort noise), as rtpengine's "single codec".
func singleCodec(formats []string, rtpmaps map[string]string) []string {
	out := make([]string, 0, len(formats))
	first := true
	for _, pt := range formats {
		name, _, _ := strings.Cut(encoding(rtpmaps, pt), "/")
		switch {
		case strings.EqualFold(name, "telephone-event"), strings.EqualFold(name, "CN"):
			out = append(out, pt)
		case first:
			out, first = append(out, pt), false
		}
	}
	return out
}

// filterCodecs applies the codec strip/mask/except options of an offer
// to the payload types written toward the callee (no transcoding: an
// offered codec can only be removed).
func filterCodecs(formats []string, rtpmaps map[string]string, p *Params) []string {
	if len(p.CodecStrip) == 0 && len(p.CodecMask) == 0 {
		return formats
	}
	match := func(list []string, pt string) bool {
		enc := encoding(rtpmaps, pt)
		name, _, _ := strings.Cut(enc, "/")
		for _, x := range list {
			if strings.EqualFold(x, "all") || strings.EqualFold(x, name) || strings.EqualFold(x, enc) {
				return true
			}
		}
		return false
	}
	out := make([]string, 0, len(formats))
	for _, pt := range formats {
		drop := match(p.CodecStrip, pt) || match(p.CodecMask, pt)
		if drop && len(p.CodecExcept) > 0 && match(p.CodecExcept, pt) {
			drop = false
		}
		if !drop {
			out = append(out, pt)
		}
	}
	if len(out) == 0 {
		return formats
	}
	return out
}

// versionLocked applies SDP-version (keep the version while the output
// is unchanged, bump it by one when it changes; force-increment-sdp-ver
// bumps it always) and records what was sent.
func (r *Registry) versionLocked(out, in *sdp.Session, p *Params, st *outState) {
	defer func() { st.sent = true }()
	if !out.HasOrigin {
		return
	}
	out.HasOrigin = false
	body := string(out.Marshal())
	out.HasOrigin = true
	if p.Replace["sdp-version"] && st.versionSet {
		if body != st.lastBody || p.Replace["force-increment-sdp-ver"] {
			st.version++
		}
		out.Origin.SessionVersion = strconv.FormatUint(st.version, 10)
	} else if v, err := strconv.ParseUint(in.Origin.SessionVersion, 10, 64); err == nil {
		st.version, st.versionSet = v, true
	}
	st.lastBody = body
}

// answerFormats keeps the answer's payload types the offer contained
// (rtpengine drops codecs an answer adds); all of them if none match.
func answerFormats(answer, offer []string) []string {
	if len(offer) == 0 {
		return answer
	}
	in := make(map[string]bool, len(offer))
	for _, f := range offer {
		in[f] = true
	}
	out := make([]string, 0, len(answer))
	for _, f := range answer {
		if in[f] {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return answer
	}
	return out
}

// rtcpLines writes a=rtcp and a=rtcp-mux (rtpengine's print_rtcp) and
// reports whether RTCP is multiplexed toward dst.
func (r *Registry) rtcpLines(add func(string), p *Params, sm, dm *Media, answer bool, fam string, pass bool) bool {
	var mux, offerMux bool
	if answer {
		mux = muxToOfferer(dm, sm.RTCPMuxOffered)
	} else {
		// rtpengine's __rtcp_mux_logic and __rtcp_mux_set: forced mux
		// first, then offer, demux, and the offerer's own choice.
		f := p.RTCPMux
		switch {
		case forcedMux(p, dm):
			mux = true
		case f["offer"]:
			offerMux = true
		case f["demux"]:
		case sm.RTCPMuxOffered:
			offerMux = true
		}
	}
	if answer {
		// Statistics: mux in effect on both sides of this media.
		dm.Mux = mux
		sm.Mux = sm.RTCPMuxOffered && !dm.MuxFlags["demux"]
		dm.neg.mux, sm.neg.mux = dm.Mux, sm.Mux
	} else {
		dm.neg.mux = mux || offerMux
	}
	if pass && !mux {
		// The party's own a=rtcp went through; rtpengine adds its RTCP
		// lines in passthrough only once mux is settled.
		return false
	}
	if p.flag("no-rtcp-attribute") {
		if mux || offerMux {
			add("rtcp-mux")
		}
		return mux
	}
	port := dm.pair.RTCP
	if mux {
		port = dm.pair.RTP
	}
	v := "rtcp:" + strconv.Itoa(port)
	if p.flag("full-rtcp-attribute") {
		a := r.localAddr(dm.Interface, fam)
		if ma, err := netip.ParseAddr(p.MediaAddress); err == nil {
			a = ma
		}
		v += " IN " + famOf(a) + " " + a.String()
	}
	add(v)
	if mux || offerMux {
		add("rtcp-mux")
	}
	return mux
}

// sendsICE reports whether the SDP toward dm's party carries our ICE
// credentials and candidates (outside passthrough).
func sendsICE(p *Params, sm, dm *Media, answer bool) bool {
	ice := sm.ICE
	if answer {
		// An ICE-capable offerer gets ICE back whatever the answerer did.
		ice = dm.ICE
	}
	return (ice && p.ICE != "remove") || p.ICE == "force"
}

// iceLines writes rtpengine-style ICE credentials and one host candidate
// per local address and component; package webrtc's ICE agent answers
// the checks on these ports with these credentials.
func (r *Registry) iceLines(add func(string), dst *Monologue, dm *Media, mux bool) {
	if dst.iceUfrag == "" {
		dst.iceUfrag = randomString(8, alnum)
		dst.icePwd = randomString(26, alnum)
	}
	add("ice-ufrag:" + dst.iceUfrag)
	add("ice-pwd:" + dst.icePwd)
	if dm.Trickle {
		add("ice-options:trickle")
	}
	r.candidateLines(add, dm, mux, "host")
	if dm.Trickle {
		add("end-of-candidates")
	}
}

// candidateLines writes one candidate per local address and component, of
// type typ: "host", or "relay" (passthrough: type preference 0, and the
// related address is the candidate's own, as rtpengine writes them).
func (r *Registry) candidateLines(add func(string), dm *Media, mux bool, typ string) {
	typePref := 126
	if typ == "relay" {
		typePref = 0
	}
	var ifs []Interface
	for _, x := range ifsOf(r, dm.Interface) {
		if covers(dm.pair, []Interface{x}) {
			ifs = append(ifs, x)
		}
	}
	comps := []int{1, 2}
	if mux {
		comps = comps[:1]
	}
	for _, comp := range comps {
		port := dm.pair.RTP
		if comp == 2 {
			port = dm.pair.RTCP
		}
		for idx, x := range ifs {
			prio := typePref<<24 | (65535-idx)<<8 | (256 - comp)
			a, p := x.advertised().String(), strconv.Itoa(port)
			c := "candidate:" + foundation(x.Address) + " " + strconv.Itoa(comp) + " UDP " + strconv.Itoa(prio) + " " +
				a + " " + p + " typ " + typ
			if typ != "host" {
				c += " raddr " + a + " rport " + p
			}
			add(c)
		}
	}
}

// isRelayCandidate reports whether an a=candidate value is of type relay
// (one that does not parse stays, as in rtpengine).
func isRelayCandidate(v string) bool {
	c, err := ice.ParseCandidate(v)
	return err == nil && c.Type == ice.TypeRelay
}

// connLine rewrites a c= value: the local advertised address of the
// family, media-address when given, a hold address (0.0.0.0, ::) kept.
func (r *Registry) connLine(v string, p *Params, ifName, fam string, ice bool) string {
	c, err := sdp.ParseConnection(v)
	if err == nil && c.IsZero() && !p.Replace["zero-address"] && !ice {
		return v
	}
	if p.MediaAddress != "" {
		if a, err := netip.ParseAddr(p.MediaAddress); err == nil {
			return "IN " + famOf(a) + " " + a.String()
		}
	}
	a := r.localAddr(ifName, fam)
	return "IN " + famOf(a) + " " + a.String()
}

// localAddr is the advertised address of the interface in family fam
// (or its first address).
func (r *Registry) localAddr(ifName, fam string) netip.Addr {
	return r.localIface(ifName, fam).advertised()
}

// localIface is the interface address of family fam (or the first one).
func (r *Registry) localIface(ifName, fam string) Interface {
	ifs := ifsOf(r, ifName)
	for _, x := range ifs {
		if famOf(x.advertised()) == fam {
			return x
		}
	}
	if len(ifs) > 0 {
		return ifs[0]
	}
	return Interface{Address: netip.IPv4Unspecified()}
}

// setLocal points a media's streams at the local address of family fam.
func (r *Registry) setLocal(md *Media, fam string) {
	a := r.localIface(md.Interface, fam).Address
	for _, s := range md.Streams {
		if s != nil && s.Pair != nil {
			s.LocalAddr = a
		}
	}
}

func famOf(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IP4"
	}
	return "IP6"
}

func isRTP(proto string) bool {
	_, ok := webrtc.RTPProto(proto)
	return ok
}

// consumedSession: session attributes rtpengine drops (it regenerates
// them per media, or they describe transport it terminates).
func consumedSession(name string) bool {
	switch strings.ToLower(name) {
	case "sendrecv", "sendonly", "recvonly", "inactive",
		"group", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch",
		"candidate", "end-of-candidates", "remote-candidates",
		"fingerprint", "setup", "tls-id", "crypto", "rtpengine":
		return true
	}
	return false
}

// consumedMedia: media attributes rtpengine drops or regenerates.
func consumedMedia(name string) bool {
	switch name {
	case "rtcp", "rtcp-mux", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch",
		"candidate", "end-of-candidates", "remote-candidates",
		"crypto", "fingerprint", "setup", "tls-id", "rtpengine":
		return true
	}
	return false
}

// encoding is payload type pt's encoding: its a=rtpmap, else the static
// one of RFC 3551.
func encoding(rtpmaps map[string]string, pt string) string {
	if enc, ok := rtpmaps[pt]; ok {
		return enc
	}
	return staticCodec(pt)
}

// monoDefault drops a channel count of 1 from an rtpmap encoding
// (G722/8000/1 is written G722/8000): one channel is the default (RFC
// 4566 section 6), and rtpengine writes it so.
func monoDefault(enc string) string {
	if strings.Count(enc, "/") == 2 {
		return strings.TrimSuffix(enc, "/1")
	}
	return enc
}

// staticCodec is the RFC 3551 encoding of a static payload type. For an
// unknown one rtpengine 10.5 prints "/0" (an empty name and clock rate).
func staticCodec(pt string) string {
	switch pt {
	case "0":
		return "PCMU/8000"
	case "3":
		return "GSM/8000"
	case "4":
		return "G723/8000"
	case "5":
		return "DVI4/8000"
	case "6":
		return "DVI4/16000"
	case "7":
		return "LPC/8000"
	case "8":
		return "PCMA/8000"
	case "9":
		return "G722/8000"
	case "10":
		return "L16/44100/2"
	case "11":
		return "L16/44100"
	case "12":
		return "QCELP/8000"
	case "13":
		return "CN/8000"
	case "14":
		return "MPA/90000"
	case "15":
		return "G728/8000"
	case "16":
		return "DVI4/11025"
	case "17":
		return "DVI4/22050"
	case "18":
		return "G729/8000"
	case "25":
		return "CelB/90000"
	case "26":
		return "JPEG/90000"
	case "28":
		return "nv/90000"
	case "31":
		return "H261/90000"
	case "32":
		return "MPV/90000"
	case "33":
		return "MP2T/90000"
	case "34":
		return "H263/90000"
	}
	return "/0"
}

const (
	alnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexDigits = "0123456789abcdef"
)

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// foundation is a stable 16-character candidate foundation per address,
// as rtpengine derives one per local address.
func foundation(a netip.Addr) string {
	h := fnv.New64a()
	_, _ = h.Write(a.AsSlice())
	v := h.Sum64()
	b := make([]byte, 16)
	for i := range b {
		b[i] = alnum[v%uint64(len(alnum))]
		v = v/uint64(len(alnum)) ^ uint64(i+1)*0x9e3779b97f4a7c15
	}
	return string(b)
}
