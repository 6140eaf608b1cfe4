package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
)

// Blind transfer (RFC 3515) through sipproxy: the transferor REFERs the
// other party to a third; the transferee calls the Refer-To target, a new
// call with its own offer and answer, and reports its progress in NOTIFYs
// (message/sipfrag) in the first dialog; once told of the 200, the
// transferor hangs up the first call. To the proxy and the daemon these
// are in-dialog requests without SDP, a new call and a BYE: the daemon
// must end up holding the new call only, with media through it.

// TestCallsTransfer: three UDP phones. alice calls bob; bob transfers
// alice to carol; media alice <-> carol goes through mediad, which deletes
// the first call at bob's BYE.
func TestCallsTransfer(t *testing.T) {
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	px := startProxy(t, []string{opts.NG})
	alice, bob, carol := newPhone(t, px, "alice", false), newPhone(t, px, "bob", false), newPhone(t, px, "carol", false)
	a, b := placeCall(t, alice, bob, "bob")
	checkMediaThrough(t, opts.NG, a, b)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := b.Refer(ctx, carol.AOR()); err != nil {
		t.Fatalf("bob's REFER: %v", err)
	}
	var c *phone.Call // carol's side, set before moved returns
	moved := alongside(ctx, t, "alice", func(ctx context.Context) (*phone.Call, error) {
		n, cc, err := followRefer(ctx, alice, a, carol)
		c = cc
		return n, err
	})
	if err := awaitReferred(ctx, b); err != nil {
		t.Fatal(err)
	}
	hangup(t, b, a)
	n := moved()
	if n == nil || c == nil {
		t.FailNow()
	}
	checkMediaThrough(t, opts.NG, n, c)
	if ids := ngCalls(t, opts.NG); len(ids) != 1 || ids[0] != n.ID {
		t.Fatalf("daemon holds %v after the transfer, want the new call %s only", ids, n.ID)
	}
	hangupAndCheck(t, opts.NG, n, c)
}

// TestCallsBrowserTransferred: the browser (JsSIP over WSS) calls bob, a
// UDP phone, who transfers it to carol: JsSIP calls carol, a call from
// WS to a phone with the SRC_WS flags, and media flows between them; bob
// hangs up on the NOTIFY of carol's 200, the browser later hangs up on
// carol, and the daemon holds no call.
func TestCallsBrowserTransferred(t *testing.T) {
	forTransferParties(t, func(t *testing.T, ng, bundle string, px *proxy, bob, carol *phone.Phone) {
		transfer := make(chan struct{}, 1)
		url := servePage(t, bundle, pageSignals{Transfer: transfer}) + "?mode=call&transfer=accept&user=alice&target=bob&ws=wss://" + px.WSS
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		carols := alongside(ctx, t, "carol", carol.Answer)
		bobs := alongside(ctx, t, "bob", func(ctx context.Context) (*phone.Call, error) {
			b, err := bob.Answer(ctx)
			if err != nil {
				return nil, err
			}
			select {
			case <-transfer:
			case <-ctx.Done():
				return b, nil // the page's failure says why
			}
			if err := b.Refer(ctx, carol.AOR()); err != nil {
				return b, err
			}
			if err := awaitReferred(ctx, b); err != nil {
				return b, err
			}
			return b, b.Hangup(ctx)
		})
		res := runPage(ctx, t, url, "")
		b, c := bobs(), carols()
		if b == nil || c == nil {
			t.FailNow()
		}
		checkBrowserPhoneAudio(t, res, b)
		if res.Transfer == nil {
			t.Fatalf("the browser did not follow the REFER: %+v", res)
		}
		checkBrowserPhoneAudio(t, *res.Transfer, c)
		checkEnded(t, c, ng)
	})
}

// TestCallsBrowserTransfers: the browser calls bob and transfers him to
// carol (JsSIP's refer()): bob, a UDP phone, calls carol and reports in
// NOTIFYs that reach the browser over its WSS flow; the browser hangs up
// on the 200. Media bob <-> carol goes through the daemon, which holds
// only that call once the browser's call is over.
func TestCallsBrowserTransfers(t *testing.T) {
	forTransferParties(t, func(t *testing.T, ng, bundle string, px *proxy, bob, carol *phone.Phone) {
		url := servePage(t, bundle, pageSignals{}) + "?mode=call&transfer=carol&user=alice&target=bob&ws=wss://" + px.WSS
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		var b, c *phone.Call // set before bobs returns
		bobs := alongside(ctx, t, "bob", func(ctx context.Context) (*phone.Call, error) {
			var err error
			if b, err = bob.Answer(ctx); err != nil {
				return nil, err
			}
			n, cc, err := followRefer(ctx, bob, b, carol)
			c = cc
			return n, err
		})
		res := runPage(ctx, t, url, "")
		n := bobs()
		if n == nil || c == nil {
			t.FailNow()
		}
		checkBrowserPhoneAudio(t, res, b)
		if !res.Transferred {
			t.Errorf("the browser was not told of the transfer's 200: %+v", res)
		}
		waitEnded(t, b)
		checkMediaThrough(t, ng, n, c)
		if ids := ngCalls(t, ng); len(ids) != 1 || ids[0] != n.ID {
			t.Fatalf("daemon holds %v after the transfer, want bob's call to carol (%s) only", ids, n.ID)
		}
		hangupAndCheck(t, ng, n, c)
	})
}

// forTransferParties runs f in the calls namespace once per browser
// daemon, with a proxy on it and the UDP phones bob and carol registered.
func forTransferParties(t *testing.T, f func(t *testing.T, ng, bundle string, px *proxy, bob, carol *phone.Phone)) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startProxy(t, []string{ng})
		f(t, ng, bundle, px, newPhone(t, px, "bob", false), newPhone(t, px, "carol", false))
	})
}

// followRefer is the transferee's side: it takes the REFER p receives in
// old, which must point at target, reports 100 Trying, calls target (who
// answers on a goroutine of its own) and reports the 200. It returns the
// new call and target's side of it.
func followRefer(ctx context.Context, p *phone.Phone, old *phone.Call, target *phone.Phone) (*phone.Call, *phone.Call, error) {
	r, err := p.Referred(ctx)
	if err != nil {
		return nil, nil, err
	}
	if r.Call != old || r.Target != target.AOR() {
		return nil, nil, fmt.Errorf("REFER to %s in call %s, want to %s in %s", r.Target, r.Call.ID, target.AOR(), old.ID)
	}
	if err := old.Notify(ctx, "SIP/2.0 100 Trying", false); err != nil {
		return nil, nil, err
	}
	ans := make(chan *phone.Call, 1)
	go func() {
		c, _ := target.Answer(ctx) // its failure shows as the call's
		ans <- c
	}()
	n, err := p.Call(ctx, r.Target)
	if err != nil {
		return nil, nil, fmt.Errorf("the referred call: %w", err)
	}
	c := <-ans
	if err := old.Notify(ctx, "SIP/2.0 200 OK", true); err != nil {
		return n, c, err
	}
	return n, c, nil
}

// awaitReferred is the transferor's side after its REFER: NOTIFYs until
// one with a final status, which must be 200.
func awaitReferred(ctx context.Context, c *phone.Call) error {
	var seen []string
	for {
		frag, err := c.Notified(ctx)
		if err != nil {
			return fmt.Errorf("NOTIFYs %q, then: %w", seen, err)
		}
		seen = append(seen, frag)
		f := strings.Fields(frag)
		code := 0
		if len(f) > 1 {
			code, _ = strconv.Atoi(f[1])
		}
		switch {
		case code >= 200 && code < 300:
			return nil
		case code >= 300 || code < 100:
			return fmt.Errorf("the transfer failed: NOTIFYs %q", seen)
		}
	}
}
