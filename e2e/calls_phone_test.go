package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// checkMediaThrough asserts both phones receive each other's RTP, coming
// from the media daemon's ports (not from the other phone directly), and
// that the daemon counts the packets.
func checkMediaThrough(t *testing.T, ng string, a, b *phone.Call) {
	t.Helper()
	ok := eventually(10*time.Second, func() bool {
		return a.RTP.ReceivedFrom(b.RTP.SSRC) >= 25 && b.RTP.ReceivedFrom(a.RTP.SSRC) >= 25
	})
	if !ok {
		t.Fatalf("RTP through the media daemon: caller got %d from callee, callee got %d from caller (sent %d/%d); caller's SDP peer %v, callee's %v",
			a.RTP.ReceivedFrom(b.RTP.SSRC), b.RTP.ReceivedFrom(a.RTP.SSRC), a.RTP.Sent(), b.RTP.Sent(), a.RemoteAddr(), b.RemoteAddr())
	}
	if a.RemoteAddr() == b.RTP.Addr() || b.RemoteAddr() == a.RTP.Addr() {
		t.Fatalf("SDP not rewritten: the phones talk directly (%v, %v)", a.RemoteAddr(), b.RemoteAddr())
	}
	if src := a.RTP.LastSource(); src != a.RemoteAddr() {
		t.Errorf("caller's RTP comes from %v, want the daemon's port %v", src, a.RemoteAddr())
	}
	q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": a.ID})
	if q.Result() != "ok" || rtpTotal(q) < 50 {
		t.Fatalf("daemon counters for the call: result %q, RTP packets %d (want >= 50): %v", q.Result(), rtpTotal(q), q)
	}
}

// checkConfirmed waits until the daemon reports both parties' RTP streams
// confirmed: as in rtpengine, endpoint learning settles on the first
// packet more than 3 s after the last signalling.
func checkConfirmed(t *testing.T, ng, callID string) {
	t.Helper()
	var q ngproto.Dict
	ok := eventually(8*time.Second, func() bool {
		q = ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID})
		tags := queryTags(q)
		for _, tag := range tags {
			if _, rtp := partyFlags(q, tag); !slices.Contains(rtp, "confirmed") {
				return false
			}
		}
		return len(tags) == 2
	})
	if !ok {
		for _, tag := range queryTags(q) {
			_, rtp := partyFlags(q, tag)
			t.Errorf("party %s's RTP stream flags %q: not confirmed while media flows", tag, rtp)
		}
	}
}

// hangupAndCheck hangs up and checks that the daemon holds no call.
func hangupAndCheck(t *testing.T, ng string, c *phone.Call, other *phone.Call) {
	t.Helper()
	hangup(t, c, other)
	if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
		t.Fatalf("media daemon still holds calls after BYE: %v", ngCalls(t, ng))
	}
}

// hangup sends c's BYE and waits until it reaches the other phone.
func hangup(t *testing.T, c *phone.Call, other *phone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-other.Ended():
	case <-ctx.Done():
		t.Fatal("BYE did not reach the other phone")
	}
}

// TestCallsPhoneToPhone: two UDP phones registered at sipproxy call each
// other with media through mediad:
//   - early offer, then a re-INVITE, an UPDATE and a re-INVITE without
//     SDP from each side;
//   - late offer (INVITE without SDP: offer in the 200 OK, answer in the
//     ACK, tags swapped);
//   - the callee answering with a reliable 183 (RFC 3262), which carries
//     the answer, or with a late offer the PRACK answers (and which the
//     200 may repeat);
//   - phones on TLS and TCP (reached over the connection they registered
//     on), with the re-offers both ways, and from UDP to TLS.
func TestCallsPhoneToPhone(t *testing.T) {
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	px := startProxy(t, []string{opts.NG})
	for _, tc := range []struct {
		name                   string
		late, reliable, repeat bool
		from, to               string // transports; "": udp
		reoffers               bool
	}{
		{name: "early-offer", reoffers: true}, {name: "late-offer", late: true}, {name: "100rel", reliable: true},
		{name: "100rel-late-offer", late: true, reliable: true},
		{name: "100rel-late-offer-sdp-in-200", late: true, reliable: true, repeat: true},
		{name: "tls-to-tcp", from: "tls", to: "tcp", reoffers: true}, {name: "udp-to-tls", to: "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice := registeredPhone(t, phone.Config{User: "alice-" + tc.name, Transport: tc.from, Proxy: px.on(tc.from), Domain: callsDomain, Late: tc.late})
			bob := registeredPhone(t, phone.Config{User: "bob-" + tc.name, Transport: tc.to, Proxy: px.on(tc.to), Domain: callsDomain, Reliable: tc.reliable, RepeatSDP: tc.repeat})
			a, b := placeCall(t, alice, bob, "bob-"+tc.name)
			checkMediaThrough(t, opts.NG, a, b)
			if tc.reoffers {
				checkConfirmed(t, opts.NG, a.ID)
				for _, r := range allReoffers {
					renegotiateBothWays(t, opts.NG, a, b, r)
				}
			}
			hangupAndCheck(t, opts.NG, a, b)
		})
	}
}

// renegotiateBothWays: the caller, then the callee re-offers with offer
// (Call.Reinvite or Call.Update); both offers and answers go through the
// daemon (in-dialog, the proxy has no SRC_WS: the media step's remembered
// orientation applies) and media keeps flowing on the same call.
func renegotiateBothWays(t *testing.T, ng string, a, b *phone.Call, offer reoffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i, c := range []*phone.Call{a, b} {
		before := c.RTP.Received()
		if err := offer(c, ctx); err != nil {
			t.Fatalf("re-offer %d: %v", i, err)
		}
		other := b
		if c == b {
			other = a
		}
		if c.RemoteAddr() == other.RTP.Addr() {
			t.Fatalf("re-offer %d: answer not rewritten, media would bypass the daemon", i)
		}
		if !eventually(5*time.Second, func() bool { return c.RTP.Received() >= before+25 }) {
			t.Fatalf("re-offer %d: media stopped (%d then %d packets)", i, before, c.RTP.Received())
		}
	}
	if ids := ngCalls(t, ng); len(ids) != 1 {
		t.Fatalf("daemon holds %v after the re-offers, want the one call", ids)
	}
}

// TestCallsNoMediaDaemon: the only media daemon is dead; the caller gets a
// 5xx, the callee is never rung, and no call stays anywhere.
func TestCallsNoMediaDaemon(t *testing.T) {
	dead := hostPort(testport.Get(t))
	px := startProxy(t, []string{dead}, "--rtpengine-timeout=200ms", "--rtpengine-retries=2")
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	_, err := alice.Call(ctx, "bob")
	var se *phone.StatusError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("call without media daemon: %v, want a 5xx", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer rcancel()
	if _, err := bob.Answer(rctx); err == nil {
		t.Fatal("callee was rung although the offer failed")
	}
}

// TestCallsCancel: the caller cancels a ringing call whose INVITE carried
// SDP: the offer made at the daemon is deleted (CANCEL and the failed
// INVITE), the caller gets 487.
func TestCallsCancel(t *testing.T) {
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	px := startProxy(t, []string{opts.NG})
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	invc := make(chan *phone.Msg, 1)
	go func() {
		inv, err := bob.Ring(ctx)
		errc <- err
		invc <- inv
	}()
	code, err := alice.CallAndCancel(ctx, "bob")
	if err != nil || code != 487 {
		t.Fatalf("cancelled call: %d, %v; want 487", code, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The offer went through mediad: bob was offered one of its ports.
	ap, err := phone.MediaAddr((<-invc).Body)
	if err != nil || ap.Port() < callsMediadA || ap.Port() > callsMediadA+999 {
		t.Fatalf("bob's offer %v (%v) is not on mediad's ports", ap, err)
	}
	if !eventually(3*time.Second, func() bool { return len(ngCalls(t, opts.NG)) == 0 }) {
		t.Fatalf("mediad still holds %v after the CANCEL", ngCalls(t, opts.NG))
	}
}

// TestCallsRejected: the callee answers 486: the caller gets it and the
// offer made at mediad is deleted (rtpengine_manage on a failed reply).
func TestCallsRejected(t *testing.T) {
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	px := startProxy(t, []string{opts.NG})
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	go func() { _ = bob.Reject(ctx, 486, "Busy Here") }()
	_, err := alice.Call(ctx, "bob")
	var se *phone.StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("rejected call: %v, want 486", err)
	}
	if !eventually(3*time.Second, func() bool { return len(ngCalls(t, opts.NG)) == 0 }) {
		t.Fatalf("mediad still holds %v after the 486", ngCalls(t, opts.NG))
	}
}
