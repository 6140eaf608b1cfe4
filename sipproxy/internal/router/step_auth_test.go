package router

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"sipmedia/sipproxy/internal/auth"
	"sipmedia/sipproxy/internal/registrar"
)

// authRouter is testRouter with --auth-users: alice and bob.
func authRouter(t testing.TB) (*Router, *[]*Ctx) {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:alicepw\nbob:bobpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := auth.Load(users)
	if err != nil {
		t.Fatal(err)
	}
	reg := &registrar.Registrar{Store: registrar.NewMemStore(), Limits: registrar.Limits{Default: 3600, Min: 60}}
	r := New(discardLog(), Config{Domains: []string{"example.com"}, Auth: a}, nil, testSockets, reg, nil)
	var relayed []*Ctx
	r.relayHook = func(_ context.Context, c *Ctx) { relayed = append(relayed, c) }
	return r, &relayed
}

// credentials answers the challenge in res (header chal) for method.
func credentials(t *testing.T, res *sip.Response, chal, method, uri, user, pw string) string {
	t.Helper()
	h := res.GetHeader(chal)
	if h == nil {
		t.Fatalf("%d without %s", res.StatusCode, chal)
	}
	c, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: pw, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestAuthChain(t *testing.T) {
	r, _ := authRouter(t)
	want := []string{"mf_process_maxfwd_header", "has_totag", "cancel", "from_uri!=myself", "proxy_authorize",
		"loose_route(preloaded)", "record_route", "uri!=myself", "is_method(PUBLISH|SUBSCRIBE)", "setflag(SRC_WS)",
		"fix_nated_contact", "www_authorize", "save(location)", "$rU==NULL", "lookup(location)", "route(relay)"}
	if got := r.StepNames(); !slices.Equal(got, want) {
		t.Fatalf("chain %v\nwant %v", got, want)
	}
}

func TestAuthSteps(t *testing.T) {
	r, relayed := authRouter(t)
	route := func(raw string) *recTx {
		t.Helper()
		c, tx := ctxFor(t, r, raw)
		r.serve(c)
		return tx
	}
	reg := strings.ReplaceAll(registerBob, "WSS df7jal23ls0d.invalid", "UDP 10.0.0.9:5070")
	reg = strings.ReplaceAll(reg, "df7jal23ls0d.invalid;transport=ws", "10.0.0.9:5070")

	// REGISTER: 401, then the right credentials register; alice's
	// credentials for bob's binding get 403.
	tx := route(reg)
	if !slices.Equal(tx.codes(), []int{401}) {
		t.Fatalf("REGISTER without credentials: %v", tx.codes())
	}
	first := tx.replies[0]
	if tx := route(with(reg, "Contact:", "Authorization: "+credentials(t, first, "WWW-Authenticate", "REGISTER", "sip:127.0.0.1", "alice", "alicepw")+"\nContact:")); !slices.Equal(tx.codes(), []int{403}) || tx.replies[0].Reason != "Forbidden auth ID" {
		t.Errorf("alice's credentials for bob: %v", tx.codes())
	}
	if tx := route(with(reg, "Contact:", "Authorization: "+credentials(t, first, "WWW-Authenticate", "REGISTER", "sip:127.0.0.1", "bob", "wrong")+"\nContact:")); !slices.Equal(tx.codes(), []int{401}) {
		t.Errorf("wrong password: %v", tx.codes())
	}
	if all, _ := r.reg.Store.All(context.Background(), time.Now()); len(all) != 0 {
		t.Fatalf("bindings before the right password: %+v", all)
	}
	if tx := route(with(reg, "Contact:", "Authorization: "+credentials(t, first, "WWW-Authenticate", "REGISTER", "sip:127.0.0.1", "bob", "bobpw")+"\nContact:")); !slices.Equal(tx.codes(), []int{200}) {
		t.Fatalf("bob's credentials: %v", tx.codes())
	}

	// INVITE from alice (ours): 407, then relayed without the credentials.
	tx = route(inviteBob)
	if !slices.Equal(tx.codes(), []int{407}) || len(*relayed) != 0 {
		t.Fatalf("INVITE without credentials: %v, %d relayed", tx.codes(), len(*relayed))
	}
	cred := credentials(t, tx.replies[0], "Proxy-Authenticate", "INVITE", "sip:bob@127.0.0.1", "alice", "alicepw")
	tx = route(with(inviteBob, "Contact:", "Proxy-Authorization: "+cred+"\nContact:"))
	if len(tx.codes()) != 0 || len(*relayed) != 1 {
		t.Fatalf("authenticated INVITE: replies %v, %d relayed", tx.codes(), len(*relayed))
	}
	if h := (*relayed)[0].Req.GetHeader("Proxy-Authorization"); h != nil {
		t.Errorf("credentials relayed: %s", h.Value())
	}
	// bob's credentials in alice's INVITE: 403.
	cred = credentials(t, tx0(t, r, inviteBob), "Proxy-Authenticate", "INVITE", "sip:bob@127.0.0.1", "bob", "bobpw")
	if tx := route(with(inviteBob, "Contact:", "Proxy-Authorization: "+cred+"\nContact:")); !slices.Equal(tx.codes(), []int{403}) {
		t.Errorf("another user's credentials: %v", tx.codes())
	}
	// A caller from elsewhere to a local user is not challenged.
	if tx := route(with(inviteBob, "<sip:alice@127.0.0.1>", "<sip:carol@example.org>")); len(tx.codes()) != 0 || len(*relayed) != 2 {
		t.Errorf("foreign caller: replies %v, %d relayed", tx.codes(), len(*relayed))
	}
	if c, f := r.Metrics.AuthChallenges.Load(), r.Metrics.AuthFailures.Load(); c != 4 || f != 3 {
		t.Errorf("challenges %d (want 4), failures %d (want 3)", c, f)
	}
}

// tx0 routes raw and returns its only reply.
func tx0(t *testing.T, r *Router, raw string) *sip.Response {
	t.Helper()
	c, tx := ctxFor(t, r, raw)
	r.serve(c)
	if len(tx.replies) != 1 {
		t.Fatalf("replies %v", tx.codes())
	}
	return tx.replies[0]
}
