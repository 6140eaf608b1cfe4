package router

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func with(raw, old, new string) string { return strings.Replace(raw, old, new, 1) }

func TestChainOrderFollowsSeed(t *testing.T) {
	r, _ := testRouter(t)
	want := []string{"mf_process_maxfwd_header", "has_totag", "cancel", "from_uri!=myself", "loose_route(preloaded)",
		"record_route", "uri!=myself", "is_method(PUBLISH|SUBSCRIBE)", "setflag(SRC_WS)", "fix_nated_contact",
		"save(location)", "$rU==NULL", "lookup(location)", "route(relay)"}
	if got := r.StepNames(); !slices.Equal(got, want) {
		t.Fatalf("chain %v\nwant %v", got, want)
	}
}

func TestMaxFwd(t *testing.T) {
	r, _ := testRouter(t)
	for _, tc := range []struct {
		name, header string
		want         int // resulting Max-Forwards, -1 for 483
	}{
		{"absent", "", 10},
		{"decrement", "Max-Forwards: 70\n", 69},
		{"clamp", "Max-Forwards: 1000\n", 255},
		{"zero", "Max-Forwards: 0\n", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tx := ctxFor(t, r, with(inviteBob, "Max-Forwards: 70\n", tc.header))
			res := (maxFwd{r}).Serve(context.Background(), c)
			if tc.want < 0 {
				if res != Stop || !slices.Equal(tx.codes(), []int{483}) {
					t.Fatalf("result %v replies %v, want Stop/483", res, tx.codes())
				}
				return
			}
			if res != Next || int(c.Req.MaxForwards().Val()) != tc.want {
				t.Fatalf("result %v mf %v, want %d", res, c.Req.MaxForwards(), tc.want)
			}
		})
	}
}

func TestInDialog(t *testing.T) {
	r, relayed := testRouter(t)
	ctx := context.Background()
	// Not in dialog: next.
	c, _ := ctxFor(t, r, inviteBob)
	if (inDialog{r}).Serve(ctx, c) != Next {
		t.Fatal("initial request stopped")
	}
	// In dialog with our double Record-Route: both entries removed, the
	// outbound socket taken from the second, relayed with record_route.
	raw := with(inviteBob, "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1\nRoute: <sip:127.0.0.1;r2=on;lr>, <sip:127.0.0.1:8443;transport=wss;r2=on;lr>")
	c, _ = ctxFor(t, r, with(raw, "sip:bob@127.0.0.1 SIP", "sip:bob@10.1.1.1:40000;transport=ws SIP"))
	if (inDialog{r}).Serve(ctx, c) != Stop || len(*relayed) != 1 {
		t.Fatal("in-dialog request not relayed")
	}
	if c.Req.Route() != nil || c.OutSocket == nil || c.OutSocket.Proto != "wss" || !c.RecordRoute {
		t.Fatalf("routes %v socket %v rr %v", c.Req.GetHeaders("Route"), c.OutSocket, c.RecordRoute)
	}
	// Straight from its UA, the re-INVITE's Contact (a target refresh)
	// is fixed to the source as an initial request's is; from another
	// proxy (two Vias) it is left alone.
	if got := c.Req.Contact().Address.HostPort(); got != "10.0.0.9:5070" {
		t.Fatalf("re-INVITE from its UA: contact %s, want the source", got)
	}
	c, _ = ctxFor(t, r, with(with(raw, "sip:bob@127.0.0.1 SIP", "sip:bob@10.1.1.1:40000;transport=ws SIP"),
		"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1", "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1\nVia: SIP/2.0/UDP 192.168.1.2:5070;branch=z9hG4bK0"))
	if (inDialog{r}).Serve(ctx, c) != Stop {
		t.Fatal("in-dialog request from a proxy not relayed")
	}
	if got := c.Req.Contact().Address.HostPort(); got != "192.168.1.2:5070" {
		t.Fatalf("re-INVITE through another proxy: contact %s, want it unchanged", got)
	}
	// In dialog without Route: ACK dropped, others 404.
	noRoute := with(inviteBob, "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1")
	c, tx := ctxFor(t, r, strings.ReplaceAll(noRoute, "INVITE", "BYE"))
	if (inDialog{r}).Serve(ctx, c) != Stop || !slices.Equal(tx.codes(), []int{404}) {
		t.Fatalf("BYE without route: %v", tx.codes())
	}
	c, tx = ctxFor(t, r, with(strings.ReplaceAll(noRoute, "INVITE", "ACK"), "CSeq: 1 ACK", "CSeq: 1 ACK"))
	if (inDialog{r}).Serve(ctx, c) != Stop || len(tx.codes()) != 0 {
		t.Fatalf("ACK without route: %v", tx.codes())
	}
}

func TestCancelStep(t *testing.T) {
	r, _ := testRouter(t)
	c, tx := ctxFor(t, r, strings.ReplaceAll(inviteBob, "INVITE", "CANCEL"))
	if (cancelStep{r}).Serve(context.Background(), c) != Stop || len(tx.codes()) != 0 {
		t.Fatal("unmatched CANCEL not silently dropped")
	}
	c, _ = ctxFor(t, r, inviteBob)
	if (cancelStep{r}).Serve(context.Background(), c) != Next {
		t.Fatal("INVITE stopped")
	}
}

func TestRelayPolicy(t *testing.T) {
	r, _ := testRouter(t)
	for _, tc := range []struct {
		name, from, ruri string
		want             Result
	}{
		{"local caller", "sip:alice@127.0.0.1", "sip:bob@example.net", Next},
		{"to our domain", "sip:alice@example.org", "sip:bob@example.com", Next},
		{"open relay", "sip:alice@example.org", "sip:bob@example.net", Stop},
	} {
		raw := with(with(inviteBob, "<sip:alice@127.0.0.1>", "<"+tc.from+">"), "INVITE sip:bob@127.0.0.1", "INVITE "+tc.ruri)
		c, tx := ctxFor(t, r, raw)
		if got := (relayPolicy{r}).Serve(context.Background(), c); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
		if tc.want == Stop && !slices.Equal(tx.codes(), []int{403}) {
			t.Errorf("%s: replies %v", tc.name, tx.codes())
		}
	}
}

func TestPreloadedRoute(t *testing.T) {
	r, _ := testRouter(t)
	c, _ := ctxFor(t, r, with(inviteBob, "Max-Forwards", "Route: <sip:127.0.0.1;lr>\nMax-Forwards"))
	if (preloadedRoute{r}).Serve(context.Background(), c) != Next || c.Req.Route() != nil {
		t.Fatal("our own preloaded Route not stripped")
	}
	c, tx := ctxFor(t, r, with(inviteBob, "Max-Forwards", "Route: <sip:192.0.2.1;lr>\nMax-Forwards"))
	if (preloadedRoute{r}).Serve(context.Background(), c) != Stop || !slices.Equal(tx.codes(), []int{403}) {
		t.Fatalf("foreign preloaded Route: %v", tx.codes())
	}
}

func TestRecordRouteStep(t *testing.T) {
	r, _ := testRouter(t)
	for m, want := range map[string]bool{"INVITE": true, "REGISTER": false, "MESSAGE": false, "OPTIONS": true} {
		c, _ := ctxFor(t, r, strings.ReplaceAll(inviteBob, "INVITE", m))
		(recordRoute{r}).Serve(context.Background(), c)
		if c.RecordRoute != want {
			t.Errorf("%s: record_route %v", m, c.RecordRoute)
		}
	}
}

func TestRecordRouteHeaders(t *testing.T) {
	req := parse(t, inviteBob, "UDP", "10.0.0.9:5070")
	addRecordRoute(req, testSockets[0], testSockets[0])
	if got := req.GetHeaders("Record-Route"); len(got) != 1 || got[0].Value() != "<sip:127.0.0.1;lr>" {
		t.Fatalf("single RR: %v", got)
	}
	req = parse(t, inviteBob, "WSS", "10.0.0.9:5070")
	addRecordRoute(req, testSockets[4], testSockets[0])
	got := req.GetHeaders("Record-Route")
	if len(got) != 2 || got[0].Value() != "<sip:127.0.0.1;lr;r2=on>" || got[1].Value() != "<sip:127.0.0.1:8443;transport=wss;lr;r2=on>" {
		t.Fatalf("double RR: %v", got)
	}
}

func TestOutbound(t *testing.T) {
	r, relayed := testRouter(t)
	c, _ := ctxFor(t, r, with(inviteBob, "INVITE sip:bob@127.0.0.1", "INVITE sip:bob@example.net"))
	if (outbound{r}).Serve(context.Background(), c) != Stop || len(*relayed) != 1 {
		t.Fatal("foreign R-URI not relayed")
	}
	if h := c.Req.GetHeader("P-hint"); h == nil || h.Value() != "outbound" {
		t.Fatalf("P-hint %v", h)
	}
	c, _ = ctxFor(t, r, inviteBob)
	if (outbound{r}).Serve(context.Background(), c) != Next {
		t.Fatal("local R-URI relayed outbound")
	}
}

func TestPublish503(t *testing.T) {
	r, _ := testRouter(t)
	for _, m := range []string{"PUBLISH", "SUBSCRIBE"} {
		c, tx := ctxFor(t, r, strings.ReplaceAll(inviteBob, "INVITE", m))
		if (publish503{r}).Serve(context.Background(), c) != Stop || !slices.Equal(tx.codes(), []int{503}) {
			t.Errorf("%s: %v", m, tx.codes())
		}
	}
}

func TestSrcWS(t *testing.T) {
	r, _ := testRouter(t)
	for proto, want := range map[string]bool{"WS": true, "WSS": true, "UDP": false, "TLS": false} {
		c := newCtx(r, parse(t, inviteBob, proto, "10.0.0.9:5070"), newRecTx())
		(srcWS{r}).Serve(context.Background(), c)
		if c.SrcWS != want {
			t.Errorf("%s: SRC_WS %v", proto, c.SrcWS)
		}
	}
}

func TestFixContactStep(t *testing.T) {
	r, _ := testRouter(t)
	c, _ := ctxFor(t, r, inviteBob)
	(fixContact{r}).Serve(context.Background(), c)
	if got := c.Req.Contact().Address.HostPort(); got != "10.0.0.9:5070" {
		t.Fatalf("contact %s", got)
	}
}

const registerBob = `
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKr1
From: <sip:bob@127.0.0.1>;tag=r1
To: <sip:bob@127.0.0.1>
Call-ID: reg1@test
CSeq: 1 REGISTER
Contact: <sip:bob@df7jal23ls0d.invalid;transport=ws>;q=0.8
Allow: INVITE, ACK, BYE, CANCEL
Expires: 10
Content-Length: 0

`

func TestRegisterAndLookup(t *testing.T) {
	r, _ := testRouter(t)
	ctx := context.Background()
	c := newCtx(r, parse(t, registerBob, "WSS", "10.0.0.9:40000"), newRecTx())
	r.Route(ctx, c)
	tx := c.Tx.(*recTx)
	if !slices.Equal(tx.codes(), []int{200}) {
		t.Fatalf("REGISTER: %v (trace %v)", tx.codes(), c.Trace())
	}
	if tr := c.Trace(); len(tr) == 0 || tr[len(tr)-1] != "save(location)" || tr[0] != "mf_process_maxfwd_header" {
		t.Errorf("REGISTER ran %v, want the chain up to save(location)", tr)
	}
	res := tx.replies[0]
	ct := res.GetHeaders("Contact")
	if len(ct) != 1 || !strings.Contains(ct[0].Value(), "10.0.0.9:40000") || !strings.Contains(ct[0].Value(), "expires=60") {
		t.Fatalf("200 contacts %v (min_expires 60 applied?)", ct)
	}
	// lookup restores DST_WS, $du = received, and filters by Allow.
	c, tx = ctxFor(t, r, inviteBob)
	if (lookup{r}).Serve(ctx, c) != Next {
		t.Fatalf("lookup failed: %v", tx.codes())
	}
	if !c.DstWS || c.DstURI == nil || c.DstURI.String() != "sip:10.0.0.9:40000;transport=wss" {
		t.Fatalf("DST_WS %v du %v", c.DstWS, c.DstURI)
	}
	c, tx = ctxFor(t, r, strings.ReplaceAll(inviteBob, "INVITE", "MESSAGE"))
	if (lookup{r}).Serve(ctx, c) != Stop || !slices.Equal(tx.codes(), []int{404}) {
		t.Fatalf("method filtering: %v", tx.codes())
	}
	c, tx = ctxFor(t, r, with(inviteBob, "sip:bob@127.0.0.1 SIP", "sip:carol@127.0.0.1 SIP"))
	if (lookup{r}).Serve(ctx, c) != Stop || !slices.Equal(tx.codes(), []int{404}) {
		t.Fatalf("unknown user: %v", tx.codes())
	}
}

func TestRegisterErrors(t *testing.T) {
	r, _ := testRouter(t)
	for name, raw := range map[string]string{
		"star with expires": with(with(registerBob, "Contact: <sip:bob@df7jal23ls0d.invalid;transport=ws>;q=0.8", "Contact: *"), "Expires: 10", "Expires: 5"),
		"bad q":             with(registerBob, "q=0.8", "q=2"),
	} {
		c := newCtx(r, parse(t, raw, "UDP", "10.0.0.9:5070"), newRecTx())
		r.Route(context.Background(), c)
		if got := c.Tx.(*recTx).codes(); !slices.Equal(got, []int{400}) {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestEmptyUser(t *testing.T) {
	r, _ := testRouter(t)
	c, tx := ctxFor(t, r, with(inviteBob, "INVITE sip:bob@127.0.0.1", "INVITE sip:127.0.0.1"))
	if (emptyUser{r}).Serve(context.Background(), c) != Stop || !slices.Equal(tx.codes(), []int{484}) {
		t.Fatalf("%v", tx.codes())
	}
}

func TestRelayStep(t *testing.T) {
	r, relayed := testRouter(t)
	c, _ := ctxFor(t, r, inviteBob)
	if (relayStep{r}).Serve(context.Background(), c) != Stop || len(*relayed) != 1 {
		t.Fatal("not relayed")
	}
}

func TestValidate(t *testing.T) {
	if validate(parse(t, inviteBob, "UDP", "1.2.3.4:5")) != nil {
		t.Fatal("valid request refused")
	}
	bad := parse(t, with(inviteBob, "CSeq: 1 INVITE", "CSeq: 1 BYE"), "UDP", "1.2.3.4:5")
	if validate(bad) == nil {
		t.Fatal("CSeq method mismatch accepted")
	}
	_ = sip.INVITE
}

func TestLooseRouteStrictPreviousHop(t *testing.T) {
	r, _ := testRouter(t)
	// A strict router put our Record-Route in the R-URI and the remote
	// target at the end of the Route set (RFC 3261 16.4).
	raw := with(inviteBob, "INVITE sip:bob@127.0.0.1 SIP", "BYE sip:127.0.0.1;lr SIP")
	raw = with(raw, "CSeq: 1 INVITE", "CSeq: 2 BYE")
	raw = with(raw, "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1\nRoute: <sip:bob@10.0.0.7:5080>")
	c, _ := ctxFor(t, r, raw)
	if !looseRoute(c) {
		t.Fatal("loose_route false")
	}
	if c.Req.Recipient.String() != "sip:bob@10.0.0.7:5080" || c.Req.Route() != nil || c.DstURI != nil {
		t.Fatalf("R-URI %s routes %v du %v", c.Req.Recipient.String(), c.Req.GetHeaders("Route"), c.DstURI)
	}
	// A strict next hop: the top Route (no lr) becomes the R-URI and the
	// old R-URI goes to the end of the Route set.
	raw = with(inviteBob, "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1\nRoute: <sip:127.0.0.1;lr>, <sip:10.0.0.8>")
	c, _ = ctxFor(t, r, with(raw, "INVITE sip:bob@127.0.0.1 SIP", "INVITE sip:bob@10.0.0.9 SIP"))
	if !looseRoute(c) || c.Req.Recipient.String() != "sip:10.0.0.8" {
		t.Fatalf("strict next hop: R-URI %s", c.Req.Recipient.String())
	}
	if rs := c.Req.GetHeaders("Route"); len(rs) != 1 || rs[0].Value() != "<sip:bob@10.0.0.9>" {
		t.Fatalf("routes %v", rs)
	}
}
