package call

import (
	"slices"
	"strings"
	"time"

	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/sdp"
)

// Publish handles rtpengine's publish: a party offers its (sendonly)
// media to the daemon alone, outside any offer/answer, for subscribers
// to receive. The reply is a recvonly answer of the daemon's own with
// one codec per media: the first of the accept list (codec accept) the
// party offers, else its first codec that is not DTMF or comfort noise.
// Plain RTP only: mediad does not answer a publisher with SRTP.
func (r *Registry) Publish(p *Params, accept []string) (string, error) {
	in, err := r.parseInput(p.SDP)
	if err != nil {
		return "", err
	}
	for _, m := range in.Media {
		switch {
		case m.Port == 0:
		case subscriptionProto(m.Proto) != m.Proto:
			return "", ErrPublishProto
		case len(m.Formats) == 0:
			return "", ErrRewriteSDP // no codec to accept
		}
	}
	now := time.Now()
	c, created, err := r.lookupOrCreate(p.CallID, now)
	if err != nil {
		return "", err
	}
	defer c.mu.Unlock()
	n0 := len(c.monologues)
	pub := c.byTag(p.FromTag)
	if pub == nil {
		pub = c.newMonologue(p.FromTag, now)
	} else if pub.peer != nil || pub.pubsub {
		return "", ErrDialogue // a party of offer/answer or a subscription
	}
	out, err := r.publishLocked(c, pub, in, p, accept, now)
	if err != nil {
		c.dropSince(n0)
		if created {
			r.destroyLocked(c, "publish failed", now)
		}
		return "", err
	}
	if r.infoOn() {
		r.log.Info("publish", "call-id", c.ID, "from-tag", p.FromTag, "medias", len(in.Media))
	}
	return out, nil
}

func (r *Registry) publishLocked(c *Call, pub *Monologue, in *sdp.Session, p *Params, accept []string, now time.Time) (string, error) {
	ifName, ifs := r.interfaceAddrs(pickInterface(p, false, 0))
	if len(ifs) == 0 {
		return "", ErrNoPorts
	}
	for i, m := range in.Media {
		md := mediaAt(pub, i)
		if m.Port == 0 || md.pair != nil {
			continue
		}
		conn := m.Connection
		if conn == nil {
			conn = in.Connection
		}
		fam := conn.AddrType
		if fam != "IP6" {
			fam = "IP4"
		}
		if err := r.bindMedia(md, ifName, ifs, fam); err != nil {
			return "", err
		}
	}
	for i, m := range in.Media {
		if m.Port == 0 {
			r.releaseMedia(pub.Medias[i])
		}
	}
	// A re-publish with fewer media sections: the rest go.
	for _, md := range pub.Medias[len(in.Media):] {
		r.releaseMedia(md)
	}
	pub.Medias = pub.Medias[:len(in.Media)]
	c.lastSignal = now
	if p.Label != "" {
		pub.Label = p.Label
	}
	pub.sdpSeen = true
	pub.lastSDP = in
	applyRemote(pub, in, p, r.cfg.SIPSource, r.setLocal)
	for i, m := range in.Media {
		md := pub.Medias[i]
		// The daemon only receives from a publisher.
		md.FlagSend, md.FlagRecv = false, true
		if m.Port != 0 {
			md.Formats = []string{publishCodec(m, accept)}
		}
	}
	r.relayPublisher(c, pub)
	return publishAnswer(pub, r.software()), nil
}

// publishCodec is the payload type a publish answer accepts of m.
func publishCodec(m *sdp.Media, accept []string) string {
	rtpmaps := map[string]string{}
	for _, v := range m.AttrValues("rtpmap") {
		if pt, enc, ok := strings.Cut(v, " "); ok {
			rtpmaps[pt] = enc
		}
	}
	name := func(pt string) string {
		n, _, _ := strings.Cut(encoding(rtpmaps, pt), "/")
		return n
	}
	supplemental := func(pt string) bool {
		n := name(pt)
		return strings.EqualFold(n, "telephone-event") || strings.EqualFold(n, "CN")
	}
	for _, want := range accept {
		for _, pt := range m.Formats {
			if !supplemental(pt) && (strings.EqualFold(want, "any") || strings.EqualFold(want, name(pt)) || strings.EqualFold(want, encoding(rtpmaps, pt))) {
				return pt
			}
		}
	}
	for _, pt := range m.Formats {
		if !supplemental(pt) {
			return pt
		}
	}
	return m.Formats[0]
}

// publishAnswer is the recvonly answer to a publisher: its chosen codec
// per media at the daemon's sockets.
func publishAnswer(pub *Monologue, software string) string {
	var b ownSDP
	b.session(firstLocal(pub), "", "", software)
	for i, md := range pub.Medias {
		b.media(md)
		if md.pair == nil {
			continue
		}
		for _, a := range codecAttrs(pub.lastSDP.Media[i], md.Formats) {
			if a.Name == "rtpmap" || a.Name == "fmtp" {
				b.line("a=", a.String())
			}
		}
		if !hasRtpmap(pub.lastSDP.Media[i], md.Formats[0]) && md.Type != "application" {
			b.line("a=rtpmap:", md.Formats[0], " ", monoDefault(staticCodec(md.Formats[0])))
		}
		b.line("a=recvonly")
		b.rtcp(md)
	}
	return b.String()
}

func hasRtpmap(m *sdp.Media, pt string) bool {
	for _, v := range m.AttrValues("rtpmap") {
		if p, _, _ := strings.Cut(v, " "); p == pt {
			return true
		}
	}
	return false
}

// codecAttrs are m's attributes without those of payload types other
// than formats (rtpmap, fmtp and rtcp-fb lines name theirs first).
func codecAttrs(m *sdp.Media, formats []string) []sdp.Attr {
	var out []sdp.Attr
	for _, a := range sdp.Attrs(m.Lines) {
		switch a.Name {
		case "rtpmap", "fmtp", "rtcp-fb":
			pt, _, _ := strings.Cut(a.Value, " ")
			if pt != "*" && !slices.Contains(formats, pt) {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// relayPublisher has a publisher's streams take its media: what it sends
// goes to its subscribers only.
func (r *Registry) relayPublisher(c *Call, pub *Monologue) {
	if r.relay == nil {
		return
	}
	for _, md := range pub.Medias {
		r.syncEndpoints(pub, md)
		for k, s := range md.Streams {
			rs := r.relayStream(s)
			if rs == nil {
				continue
			}
			f := &relay.Forwarding{
				Remote: s.Endpoint, Learning: r.relay.learning, Signalled: c.lastSignal, LoopProtect: true,
				NoSend: true, DemuxRTCP: k == 0, RTCPForks: r.forks(pub, md, 1), Record: c.recorder(),
				KnownPT: knownPTs(md),
			}
			if k == 0 {
				f.Forks = r.forks(pub, md, 0)
			}
			rs.SetForwarding(f)
		}
	}
}
