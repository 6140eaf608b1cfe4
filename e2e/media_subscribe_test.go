package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sipmedia/ngproto"
)

// TestSubscribe runs rtpengine's subscriptions (subscribe request,
// subscribe answer, unsubscribe: media forked to a recorder, as OpenSIPS'
// SIPREC and media_exchange use them) on rtpengine and mediad side by
// side: the subscriber's offer, the copies it receives, the query's links,
// RTCP mirror and every error reply must be the same on both.
func TestSubscribe(t *testing.T) {
	type outcome struct {
		offer, offerAll string
		got, after      []map[string]int
		links           string
		errors          []string
		deleted         string
		mirror          []map[string]int
		mirrorLinks     string
	}
	m, re := compareOnBoth(t, nil, func(t *testing.T, name, ng string) *outcome {
		o := &outcome{}
		callID := "sub-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		for range 3 {
			a.send(t)
			b.send(t)
		}
		receivedBy(t, a, b)

		s := newBlockParty(t, "ts", 0x3333)
		r := ngDo(t, ng, ngproto.Dict{"command": "subscribe request", "call-id": callID, "from-tag": a.tag, "set-label": "rec"})
		if r.Str("from-tag") != a.tag || fmt.Sprint(r.List("from-tags")) != "[ta]" {
			t.Errorf("subscribe request reply %v: want from-tag ta and from-tags [ta]", r)
		}
		toTag := r.Str("to-tag")
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(toTag) {
			t.Errorf("generated to-tag %q: want 64 hex digits as rtpengine's", toTag)
		}
		o.offer = normalizePorts(r.Str("sdp"))
		s.learn(t, r.Str("sdp"))
		if r := ngDo(t, ng, ngproto.Dict{"command": "subscribe answer", "call-id": callID, "to-tag": toTag, "sdp": s.sdp(5)}); r.Str("result") != "ok" {
			t.Fatalf("subscribe answer: %v", r)
		}
		for range 3 {
			a.send(t)
			b.send(t)
		}
		o.got = receivedBy(t, a, b, s)

		q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID})
		o.links = links(q, toTag)

		for _, req := range []ngproto.Dict{
			{"command": "subscribe request", "from-tag": a.tag},
			{"command": "subscribe request", "call-id": "nope", "from-tag": a.tag},
			{"command": "subscribe request", "call-id": callID, "from-tag": "nope"},
			{"command": "subscribe request", "call-id": callID},
			{"command": "subscribe answer", "call-id": callID, "to-tag": "nope", "sdp": s.sdp(5)},
			{"command": "subscribe answer", "call-id": "nope", "to-tag": toTag, "sdp": s.sdp(5)},
			{"command": "subscribe answer", "call-id": callID, "sdp": s.sdp(5)},
			{"command": "subscribe answer", "call-id": callID, "to-tag": toTag},
			{"command": "subscribe answer", "call-id": callID, "to-tag": toTag, "sdp": "garbage"},
			{"command": "unsubscribe", "call-id": "nope", "to-tag": toTag},
			{"command": "unsubscribe", "call-id": callID},
			{"command": "unsubscribe", "call-id": callID, "to-tag": "nope"},
		} {
			r := ngTry(t, ng, req)
			o.errors = append(o.errors, r.Str("result")+" "+r.Str("error-reason"))
		}

		if r := ngDo(t, ng, ngproto.Dict{"command": "unsubscribe", "call-id": callID, "to-tag": toTag}); r.Str("result") != "ok" {
			t.Fatalf("unsubscribe: %v", r)
		}
		for range 3 {
			a.send(t)
			b.send(t)
		}
		o.after = receivedBy(t, a, b, s)

		r = ngDo(t, ng, ngproto.Dict{"command": "subscribe request", "call-id": callID, "flags": []any{"all"}, "to-tag": "everyone"})
		if fmt.Sprint(r.List("from-tags")) != "[ta tb]" || r.Str("to-tag") != "everyone" {
			t.Errorf("subscribe request to all: %v", r)
		}
		o.offerAll = normalizeOrigin(normalizePorts(r.Str("sdp")))

		// RTCP mirror: what the subscriber sends, its RTCP goes back
		// to the party it subscribed to.
		r = ngDo(t, ng, ngproto.Dict{"command": "subscribe request", "call-id": callID, "from-tag": a.tag,
			"to-tag": "mirror", "flags": []any{"RTCP mirror"}})
		s.learn(t, r.Str("sdp"))
		ngDo(t, ng, ngproto.Dict{"command": "subscribe answer", "call-id": callID, "to-tag": "mirror", "sdp": s.sdp(6)})
		for range 2 {
			s.send(t)
		}
		o.mirror = receivedBy(t, a, b, s)
		o.mirrorLinks = links(ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID}), "mirror")

		ngDo(t, ng, ngproto.Dict{"command": "delete", "call-id": callID, "from-tag": b.tag})
		q = ngTry(t, ng, ngproto.Dict{"command": "query", "call-id": callID})
		o.deleted = q.Str("result") + " " + q.Str("error-reason")
		return o
	})
	if m.offer != re.offer {
		t.Errorf("subscriber's offer differs:\nmediad:\n%s\nrtpengine:\n%s", m.offer, re.offer)
	}
	if !strings.Contains(m.offer, "a=sendonly") || !strings.Contains(m.offer, "a=rtpmap:101 telephone-event/8000") {
		t.Errorf("subscriber's offer is no sendonly mirror of the caller's:\n%s", m.offer)
	}
	if m.offerAll != re.offerAll || strings.Count(m.offerAll, "m=audio") != 2 {
		t.Errorf("offer of a subscription to all differs or has not two media:\nmediad:\n%s\nrtpengine:\n%s", m.offerAll, re.offerAll)
	}
	want := map[string]int{blkVoice: 3, blkDTMF: 3, blkRTCP: 3}
	for name, o := range map[string]*outcome{"mediad": m, "rtpengine": re} {
		for i, who := range []string{"caller", "callee", "subscriber"} {
			if fmt.Sprint(o.got[i]) != fmt.Sprint(want) {
				t.Errorf("%s: the %s received %v while subscribed, want %v", name, who, o.got[i], want)
			}
			w := want
			if i == 2 {
				w = map[string]int{}
			}
			if fmt.Sprint(o.after[i]) != fmt.Sprint(w) {
				t.Errorf("%s: the %s received %v after unsubscribe, want %v", name, who, o.after[i], w)
			}
		}
	}
	if m.links != re.links {
		t.Errorf("query's links differ: mediad %s, rtpengine %s", m.links, re.links)
	}
	if !slices.Equal(m.errors, re.errors) {
		t.Errorf("error replies differ:\nmediad    %q\nrtpengine %q", m.errors, re.errors)
	}
	if fmt.Sprint(m.mirror) != fmt.Sprint(re.mirror) || m.mirror[0][blkRTCP] != 2 || m.mirrorLinks != re.mirrorLinks {
		t.Errorf("RTCP mirror: caller, callee, subscriber received mediad %v, rtpengine %v (want the subscriber's 2 RTCP at the caller); links\nmediad    %s\nrtpengine %s",
			m.mirror, re.mirror, m.mirrorLinks, re.mirrorLinks)
	}
	if m.deleted != re.deleted {
		t.Errorf("after the callee's delete: mediad %q, rtpengine %q", m.deleted, re.deleted)
	}
	t.Logf("links %s; errors %q; after delete %q", m.links, m.errors, m.deleted)
}

var portRE = regexp.MustCompile(`(m=audio |a=rtcp:)\d+`)

// normalizePorts replaces the daemon's ports, which differ by range.
func normalizePorts(s string) string { return portRE.ReplaceAllString(s, "${1}PORT") }

var originRE = regexp.MustCompile(`(?m)^o=- \d+ \d+ (.*)\r?$`)

// normalizeOrigin replaces a generated origin's session id and version,
// and the session name (each daemon names itself).
func normalizeOrigin(s string) string {
	s = originRE.ReplaceAllString(s, "o=- ID ID $1")
	return regexp.MustCompile(`(?m)^s=.*$`).ReplaceAllString(s, "s=NAME")
}

// links is the query's subscriptions and subscribers, by party, with the
// subscription's tag written SUB. Parties with no link are left out: an
// ended subscription, and the empty party rtpengine 10.5 leaves behind
// for a to-tag an unsubscribe or subscribe answer named in vain.
func links(q ngproto.Dict, sub string) string {
	tags, _ := q["tags"].(ngproto.Dict)
	var keys []string
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	name := func(t string) string {
		if t == sub {
			return "SUB"
		}
		return t
	}
	for _, k := range keys {
		tg, _ := tags[k].(ngproto.Dict)
		subs, _ := tg["subscriptions"].([]any)
		subd, _ := tg["subscribers"].([]any)
		if len(subs)+len(subd) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:", name(k))
		for _, l := range []string{"subscriptions", "subscribers"} {
			list, _ := tg[l].([]any)
			var s []string
			for _, x := range list {
				d, _ := x.(ngproto.Dict)
				s = append(s, fmt.Sprintf("%v/%v", name(fmt.Sprint(d["tag"])), d["type"]))
			}
			fmt.Fprintf(&b, " %s%v", l[:5], s)
		}
		b.WriteString("; ")
	}
	return b.String()
}
