package call

import (
	"slices"
	"time"

	"sipmedia/mediad/internal/relay"
)

// Subscriptions (rtpengine's subscribe request, subscribe answer and
// unsubscribe): a party of its own, the subscriber, receives a copy of
// what one or more parties of the call send, for a recorder (SIPREC) or a
// monitor. The subscriber gets a sendonly offer that mirrors the
// parties' SDPs with sockets of its own; its answer says where the copies
// go. The copies leave the subscriber's sockets unchanged (no
// transcoding), while the parties' dialogue goes on as before.

// SubscribeParams is a subscribe request.
type SubscribeParams struct {
	CallID string
	// FromTag names one party, FromTags several; All takes every party
	// set up by offer and answer.
	FromTag  string
	FromTags []string
	All      bool
	// ToTag is the subscription's tag ("": generated). An existing
	// subscription of that tag is replaced.
	ToTag string
	// Label is set-label: the subscription's label.
	Label string
	// RTCPMirror (flag RTCP mirror): the subscriber's RTCP goes back to
	// the parties, so that a source hears from all its receivers.
	RTCPMirror bool
}

// SubscribeResult is what the reply to a subscribe request carries.
type SubscribeResult struct {
	SDP      string
	ToTag    string
	FromTags []string
}

// SubscribeAnswerParams is a subscribe answer: the subscriber's SDP.
type SubscribeAnswerParams struct {
	CallID, ToTag, SDP string
	// AllowTranscoding accepts an answer that takes only some of the
	// codecs offered (mediad forwards without transcoding: the
	// subscriber gets what the parties send).
	AllowTranscoding bool
}

// SubscribeRequest creates (or replaces) a subscription to the parties p
// names and returns the offer for the subscriber.
func (r *Registry) SubscribeRequest(p SubscribeParams) (SubscribeResult, error) {
	c := r.lookup(p.CallID)
	if c == nil {
		return SubscribeResult{}, ErrUnknownCall
	}
	defer c.mu.Unlock()
	sources, err := c.subscribeSources(p)
	if err != nil {
		return SubscribeResult{}, err
	}
	now := time.Now()
	var sub *Monologue
	if p.ToTag != "" {
		sub = c.byTag(p.ToTag)
	}
	switch {
	case sub != nil && !sub.pubsub:
		return SubscribeResult{}, ErrDialogue
	case sub != nil:
		r.endSubscription(c, sub)
		sub.zombie = false // an unsubscribed tag subscribes again
	default:
		tag := p.ToTag
		if tag == "" {
			tag = randomString(64, hexDigits) // as long as rtpengine's
		}
		sub = c.newMonologue(tag, now)
		sub.pubsub = true
	}
	if p.Label != "" {
		sub.Label = p.Label
	}
	if err := r.subscribeMedias(sub, sources); err != nil {
		r.endSubscription(c, sub)
		c.monologues = without(c.monologues, sub)
		return SubscribeResult{}, err
	}
	sub.rtcpMirror = p.RTCPMirror
	for _, src := range sources {
		src.subscribers = append(without(src.subscribers, sub), sub)
		sub.subscriptions = append(sub.subscriptions, src)
		if p.RTCPMirror {
			src.subscriptions = append(without(src.subscriptions, sub), sub)
			sub.subscribers = append(sub.subscribers, src)
		}
	}
	c.lastSignal = now
	res := SubscribeResult{SDP: subscriptionSDP(sub, sources, r.software()), ToTag: sub.Tag}
	for _, src := range sources {
		res.FromTags = append(res.FromTags, src.Tag)
	}
	if r.infoOn() {
		r.log.Info("subscribe request", "call-id", c.ID, "to-tag", sub.Tag, "from-tags", res.FromTags)
	}
	return res, nil
}

// subscribeSources are the parties a subscribe request names, with
// rtpengine 10.5's errors.
func (c *Call) subscribeSources(p SubscribeParams) ([]*Monologue, error) {
	var out []*Monologue
	switch {
	case p.All:
		for _, m := range c.monologues {
			if !m.zombie && !m.pubsub && m.peer != nil && m.sdpSeen {
				out = append(out, m)
			}
		}
	case len(p.FromTags) > 0:
		for _, t := range p.FromTags {
			if m := c.byTag(t); m != nil && !m.zombie && !m.pubsub && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	case p.FromTag != "":
		m := c.byTag(p.FromTag)
		if m == nil || m.zombie || m.pubsub {
			return nil, ErrUnknownTag
		}
		out = append(out, m)
	}
	switch {
	case len(out) == 0 && p.All:
		return nil, ErrNoCallParticipant
	case len(out) == 0:
		return nil, ErrNoMonologues
	}
	return out, nil
}

// subscribeMedias gives sub a media with sockets of its own for every
// media of the sources that carries media, in order.
func (r *Registry) subscribeMedias(sub *Monologue, sources []*Monologue) error {
	ifName, ifs := r.interfaceAddrs("")
	if len(ifs) == 0 {
		return ErrNoPorts
	}
	for _, src := range sources {
		for _, md := range src.Medias {
			if md.Port == 0 || md.pair == nil {
				continue
			}
			fam := md.Family
			if fam == "" {
				fam = "IP4"
			}
			sm := &Media{
				Index: len(sub.Medias) + 1, Type: md.Type, Protocol: subscriptionProto(md.Protocol),
				Formats: md.Formats, Ptime: md.Ptime, payloads: md.payloads,
				FlagSend: true, Send: false, Recv: true, Family: fam, source: md,
			}
			if err := r.bindMedia(sm, ifName, ifs, fam); err != nil {
				return err
			}
			sub.Medias = append(sub.Medias, sm)
		}
	}
	if len(sub.Medias) == 0 {
		return ErrNoMonologues
	}
	return nil
}

// subscriptionProto is the profile offered to a subscriber: the party's
// own when it is plain RTP, else RTP/AVP (mediad does not offer SRTP to
// a subscriber; the copies are decrypted).
func subscriptionProto(p string) string {
	if p == "RTP/AVP" || p == "RTP/AVPF" {
		return p
	}
	return "RTP/AVP"
}

// subscriptionSDP is the sendonly offer to sub: the sources' media
// sections as they offered them, at sub's sockets. For one source it
// keeps that party's origin and session name, as rtpengine does.
func subscriptionSDP(sub *Monologue, sources []*Monologue, software string) string {
	var b ownSDP
	origin, name := "", ""
	if src := sources[0].lastSDP; len(sources) == 1 && src != nil && src.HasOrigin {
		origin, name = src.Origin.String(), src.Name
	}
	b.session(firstLocal(sub), origin, name, software)
	for _, sm := range sub.Medias {
		b.media(sm)
		for _, a := range sourceAttrs(sm.source, sources) {
			b.line("a=", a)
		}
		b.line("a=sendonly")
		b.rtcp(sm)
	}
	return b.String()
}

// sourceAttrs are the codec attributes of the source media md as its
// party's last SDP gave them (rtpmap, fmtp, ptime and the like) for the
// payload types it uses, without what describes transport, direction or
// ICE.
func sourceAttrs(md *Media, sources []*Monologue) []string {
	for _, src := range sources {
		i := slices.Index(src.Medias, md)
		if i < 0 || src.lastSDP == nil || i >= len(src.lastSDP.Media) {
			continue
		}
		var out []string
		for _, a := range codecAttrs(src.lastSDP.Media[i], md.Formats) {
			if consumedMedia(a.Name) || isDirection(a.Name) || a.Name == "mid" {
				continue
			}
			out = append(out, a.String())
		}
		return out
	}
	return nil
}

// SubscribeAnswer takes the subscriber's answer and starts the copies.
func (r *Registry) SubscribeAnswer(p SubscribeAnswerParams) error {
	in, err := r.parseInput(p.SDP)
	if err != nil {
		return err
	}
	c := r.lookup(p.CallID)
	if c == nil {
		return ErrUnknownCall
	}
	defer c.mu.Unlock()
	sub := c.byTag(p.ToTag)
	if sub == nil || !sub.pubsub {
		return ErrToTagNotFound
	}
	if len(in.Media) != len(sub.Medias) {
		return ErrSubscriptionAnswer
	}
	for i, m := range in.Media {
		if !accepts(m.Formats, sub.Medias[i].Formats, p.AllowTranscoding) {
			return ErrSubscriptionAnswer
		}
	}
	applyRemote(sub, in, &Params{}, false, r.setLocal)
	for _, sm := range sub.Medias {
		// The subscriber only receives, whatever its answer says.
		sm.FlagSend, sm.FlagRecv = true, false
	}
	c.lastSignal = time.Now()
	r.relaySubscription(c, sub)
	if r.infoOn() {
		r.log.Info("subscribe answer", "call-id", c.ID, "to-tag", sub.Tag)
	}
	return nil
}

// accepts: the answer's formats take every offered one, or with
// transcoding allowed at least one.
func accepts(answer, offered []string, some bool) bool {
	n := 0
	for _, f := range offered {
		if slices.Contains(answer, f) {
			n++
		}
	}
	if some {
		return n > 0
	}
	return n == len(offered)
}

// Unsubscribe ends the subscription tagged toTag; a tag that names none
// is no error, as in rtpengine.
func (r *Registry) Unsubscribe(callID, toTag string) error {
	c := r.lookup(callID)
	if c == nil {
		return ErrUnknownCall
	}
	defer c.mu.Unlock()
	sub := c.byTag(toTag)
	if sub == nil || !sub.pubsub || sub.zombie {
		return nil
	}
	r.endSubscription(c, sub)
	sub.zombie = true
	c.lastSignal = time.Now()
	if r.infoOn() {
		r.log.Info("unsubscribe", "call-id", c.ID, "to-tag", sub.Tag)
	}
	return nil
}

// relaySubscription points sub's streams at the subscriber and has its
// sources' streams send it copies.
func (r *Registry) relaySubscription(c *Call, sub *Monologue) {
	if r.relay == nil {
		return
	}
	sub.sdpSeen = true
	for _, sm := range sub.Medias {
		r.syncEndpoints(sub, sm)
		var back *relay.Stream
		if sub.rtcpMirror && sm.source != nil {
			back = r.relayStream(sm.source.Streams[1])
			if sm.source.Mux || back == nil {
				back = r.relayStream(sm.source.Streams[0])
			}
		}
		for k, s := range sm.Streams {
			rs := r.relayStream(s)
			if rs == nil {
				continue
			}
			// What the subscriber sends is counted and dropped, but
			// for its RTCP with RTCP mirror: that goes to the party.
			rs.SetForwarding(&relay.Forwarding{
				Remote: s.Endpoint, Learning: r.relay.learning, Signalled: c.lastSignal, LoopProtect: true,
				RTCPSink: back, DemuxRTCP: k == 0,
			})
		}
	}
	r.refreshSources(c, sub.subscriptions)
}

// endSubscription stops the copies to sub and gives up its sockets.
func (r *Registry) endSubscription(c *Call, sub *Monologue) {
	sources := sub.subscriptions
	for _, src := range sources {
		src.subscribers = without(src.subscribers, sub)
		src.subscriptions = without(src.subscriptions, sub)
	}
	sub.subscriptions, sub.subscribers = nil, nil
	r.refreshSources(c, sources)
	for _, sm := range sub.Medias {
		r.releaseMedia(sm)
	}
	sub.Medias = nil
}

// refreshSources rebuilds the forwarding of each source party and its
// peer, so that the sources' forks follow their subscribers.
func (r *Registry) refreshSources(c *Call, sources []*Monologue) {
	for _, src := range sources {
		switch {
		case src.zombie:
		case src.peer != nil:
			r.updateRelay(c, src, src.peer)
		default:
			r.relayPublisher(c, src)
		}
	}
}

// forks are the subscribers' streams that get a copy of what party sends
// on its media md: RTP (k 0) or RTCP (k 1).
func (r *Registry) forks(party *Monologue, md *Media, k int) []*relay.Stream {
	var out []*relay.Stream
	for _, sub := range party.subscribers {
		if !sub.pubsub || !sub.sdpSeen {
			continue
		}
		for _, sm := range sub.Medias {
			if sm.source != md {
				continue
			}
			s := sm.Streams[k]
			if k == 1 && sm.Mux {
				s = sm.Streams[0]
			}
			if rs := r.relayStream(s); rs != nil {
				out = append(out, rs)
			}
		}
	}
	return out
}
