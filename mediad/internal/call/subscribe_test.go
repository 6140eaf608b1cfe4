package call

import (
	"errors"
	"strings"
	"testing"
)

// TestSubscriptionLifecycle: a subscriber gets copies of what the
// party it subscribed to sends (RTP and RTCP, from its own sockets),
// while the dialogue goes on untouched; the subscription survives a
// re-INVITE of the call; deleting it by its tag stops the copies and
// frees its ports; a second subscription with the same to-tag replaces
// the first.
func TestSubscriptionLifecycle(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b, s := newPhone(t), newPhone(t), newPhone(t)
	c := setupRelayCall(t, r, "sub", a, b, nil)
	ports0 := r.alloc.InUse()

	res, err := r.SubscribeRequest(SubscribeParams{CallID: "sub", FromTag: "a", ToTag: "s", Label: "rec"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ToTag != "s" || len(res.FromTags) != 1 || res.FromTags[0] != "a" || !strings.Contains(res.SDP, "a=sendonly\r\n") {
		t.Fatalf("subscribe request: %+v", res)
	}
	fromS, fromSRTCP := target(t, res.SDP) // where the copies come from
	if err := r.SubscribeAnswer(SubscribeAnswerParams{CallID: "sub", ToTag: "s", SDP: s.sdp("recvonly")}); err != nil {
		t.Fatal(err)
	}
	check := func(copies bool) {
		t.Helper()
		send(t, a.rtp, c.toA, rtpPkt)
		recv(t, b.rtp, rtpPkt, c.toB)
		send(t, a.rtcp, c.toARTCP, rtcpPkt)
		recv(t, b.rtcp, rtcpPkt, c.toBRTCP)
		if copies {
			recv(t, s.rtp, rtpPkt, fromS)
			recv(t, s.rtcp, rtcpPkt, fromSRTCP)
		} else {
			silent(t, s.rtp)
		}
		// What b sends is not copied: the subscription is to a only.
		send(t, b.rtp, c.toB, rtpPkt)
		recv(t, a.rtp, rtpPkt, c.toA)
		silent(t, s.rtp)
	}
	check(true)

	// Re-INVITEs from either party, and their answers, keep the
	// subscription.
	for _, from := range []string{"a", "b"} {
		to, p, q := "b", a, b
		if from == "b" {
			to, p, q = "a", b, a
		}
		if _, err := r.Offer(&Params{CallID: "sub", FromTag: from, ToTag: to, SDP: p.sdp("")}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Answer(&Params{CallID: "sub", FromTag: from, ToTag: to, SDP: q.sdp("")}); err != nil {
			t.Fatal(err)
		}
		check(true)
	}
	st, err := r.Query("sub", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Tags {
		if ts.Tag == "a" && (len(ts.Subscribers) != 2 || ts.Subscribers[1] != "s") {
			t.Errorf("a's subscribers after the re-INVITE: %v", ts.Subscribers)
		}
		if ts.Tag == "s" && (ts.Label != "rec" || len(ts.Subscriptions) != 1) {
			t.Errorf("subscription's stats: %+v", ts)
		}
	}

	// subscribeAgain subscribes s to a under the same tag and checks
	// that a's packet reaches b and, as a copy, s.
	subscribeAgain := func() {
		t.Helper()
		res, err := r.SubscribeRequest(SubscribeParams{CallID: "sub", FromTag: "a", ToTag: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SubscribeAnswer(SubscribeAnswerParams{CallID: "sub", ToTag: "s", SDP: s.sdp("")}); err != nil {
			t.Fatal(err)
		}
		from, _ := target(t, res.SDP)
		send(t, a.rtp, c.toA, rtpPkt)
		recv(t, b.rtp, rtpPkt, c.toB)
		recv(t, s.rtp, rtpPkt, from)
	}
	// The same to-tag again: replaced, not added.
	subscribeAgain()
	if n := r.alloc.InUse() - ports0; n != 2 {
		t.Errorf("a replaced subscription holds %d ports more than the call, want 2", n)
	}
	// Unsubscribed, then subscribed again under the same tag.
	if err := r.Unsubscribe("sub", "s"); err != nil {
		t.Fatal(err)
	}
	check(false)
	subscribeAgain()

	// A delete naming the subscription ends it alone.
	if _, err := r.Delete(DeleteParams{CallID: "sub", FromTag: "s", Fast: true}); err != nil {
		t.Fatal(err)
	}
	check(false)
	if n := r.alloc.InUse(); n != ports0 {
		t.Errorf("%d ports in use after the subscription's delete, want the call's %d", n, ports0)
	}
	if _, err := r.Delete(DeleteParams{CallID: "sub", Fast: true}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 || r.alloc.InUse() != 0 {
		t.Errorf("after delete: %d calls, %d ports", r.Len(), r.alloc.InUse())
	}
}

// TestSubscriptionErrors: rtpengine's refusals, and an answer that does
// not take every codec offered (unless transcoding is allowed: mediad
// then forwards what the party sends).
func TestSubscriptionErrors(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	a, b, s := newPhone(t), newPhone(t), newPhone(t)
	setupRelayCall(t, r, "suberr", a, b, nil)
	for _, c := range []struct {
		p    SubscribeParams
		want error
	}{
		{SubscribeParams{CallID: "nope", FromTag: "a"}, ErrUnknownCall},
		{SubscribeParams{CallID: "suberr", FromTag: "x"}, ErrUnknownTag},
		{SubscribeParams{CallID: "suberr"}, ErrNoMonologues},
		{SubscribeParams{CallID: "suberr", FromTags: []string{"x", "y"}}, ErrNoMonologues},
		{SubscribeParams{CallID: "suberr", FromTag: "a", ToTag: "b"}, ErrDialogue},
	} {
		if _, err := r.SubscribeRequest(c.p); !errors.Is(err, c.want) {
			t.Errorf("subscribe request %+v: %v, want %v", c.p, err, c.want)
		}
	}
	res, err := r.SubscribeRequest(SubscribeParams{CallID: "suberr", All: true, ToTag: "s"})
	if err != nil || len(res.FromTags) != 2 || strings.Count(res.SDP, "m=audio") != 2 {
		t.Fatalf("subscribe to all: %+v, %v", res, err)
	}
	for _, c := range []struct {
		sdp  string
		some bool
		want error
	}{
		{s.sdp(""), false, ErrSubscriptionAnswer}, // one media for two
		{"garbage", false, ErrParseSDP},
	} {
		err := r.SubscribeAnswer(SubscribeAnswerParams{CallID: "suberr", ToTag: "s", SDP: c.sdp, AllowTranscoding: c.some})
		if !errors.Is(err, c.want) {
			t.Errorf("subscribe answer %q: %v, want %v", c.sdp, err, c.want)
		}
	}
	if err := r.SubscribeAnswer(SubscribeAnswerParams{CallID: "suberr", ToTag: "a", SDP: s.sdp("")}); !errors.Is(err, ErrToTagNotFound) {
		t.Errorf("subscribe answer to a party: %v", err)
	}
	if err := r.Unsubscribe("suberr", "nope"); err != nil {
		t.Errorf("unsubscribe of no subscription: %v", err)
	}
	if err := r.Unsubscribe("nope", "s"); !errors.Is(err, ErrUnknownCall) {
		t.Errorf("unsubscribe in no call: %v", err)
	}
	if !accepts([]string{"0", "8"}, []string{"0", "8"}, false) || accepts([]string{"0"}, []string{"0", "8"}, false) ||
		!accepts([]string{"0"}, []string{"0", "8"}, true) || accepts([]string{"9"}, []string{"0", "8"}, true) {
		t.Error("accepts: every codec without transcoding, one with it")
	}
}

// TestPublishLifecycle: a publisher's media reaches its subscriber
// alone; a re-publish with fewer media sections gives up the others'
// ports; an SRTP publish and a media without codecs are refused.
func TestPublishLifecycle(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	p, s := newPhone(t), newPhone(t)
	two := p.sdp("sendonly") + "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
	out, err := r.Publish(&Params{CallID: "pub", FromTag: "p", SDP: two}, []string{"H264", "PCMU"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "m=audio ") || !strings.Contains(out, "a=recvonly") || !strings.Contains(out, "RTP/AVP 96\r\n") {
		t.Fatalf("publish answer:\n%s", out)
	}
	if n := r.alloc.InUse(); n != 4 {
		t.Errorf("%d ports for two published media, want 4", n)
	}
	out, err = r.Publish(&Params{CallID: "pub", FromTag: "p", SDP: p.sdp("sendonly")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.alloc.InUse(); n != 2 || strings.Contains(out, "m=video") {
		t.Errorf("after a re-publish of audio alone: %d ports, answer\n%s", n, out)
	}
	toP, _ := target(t, out)
	res, err := r.SubscribeRequest(SubscribeParams{CallID: "pub", FromTag: "p"})
	if err != nil {
		t.Fatal(err)
	}
	fromS, _ := target(t, res.SDP)
	if err := r.SubscribeAnswer(SubscribeAnswerParams{CallID: "pub", ToTag: res.ToTag, SDP: s.sdp("")}); err != nil {
		t.Fatal(err)
	}
	send(t, p.rtp, toP, rtpPkt)
	recv(t, s.rtp, rtpPkt, fromS)
	silent(t, p.rtp) // nothing goes back to the publisher
	if _, err := r.SubscribeRequest(SubscribeParams{CallID: "pub", All: true}); !errors.Is(err, ErrNoCallParticipant) {
		t.Errorf("subscribe to all of a call of publishers: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(p.sdp("sendonly"), "RTP/AVP", "RTP/SAVP", 1),
		strings.Replace(p.sdp("sendonly"), "RTP/AVP 0", "RTP/AVP", 1),
	} {
		if _, err := r.Publish(&Params{CallID: "pub", FromTag: "q", SDP: bad}, nil); err == nil {
			t.Errorf("publish accepted:\n%s", bad)
		}
	}
	if _, err := r.Delete(DeleteParams{CallID: "pub", Fast: true}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 || r.alloc.InUse() != 0 {
		t.Errorf("after delete: %d calls, %d ports", r.Len(), r.alloc.InUse())
	}
}
