package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
)

// authUsers writes a --auth-users file and returns the flag.
func authUsers(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "--auth-users=" + p
}

// TestCallsAuth: sipproxy with digest authentication (--auth-users):
// phones with their passwords register (401, then 200) and call each
// other (407, ACK, the INVITE again with credentials) with media through
// mediad, early and late offer and with a reliable 183; a wrong password
// registers nothing, and a caller without credentials gets 407 and no
// call reaches the daemon.
func TestCallsAuth(t *testing.T) {
	cases := []struct {
		name           string
		late, reliable bool
	}{{name: "early-offer"}, {name: "late-offer", late: true}, {name: "100rel", reliable: true}}
	users := []string{"bob:bobpw", "carol:carolpw"}
	for _, tc := range cases {
		users = append(users, "alice-"+tc.name+":alicepw", "bob-"+tc.name+":bobpw")
	}
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999})
	px := startProxy(t, []string{opts.NG}, authUsers(t, users...))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	wrong, err := phone.New(phone.Config{User: "carol", Proxy: px.UDP, Domain: callsDomain, Password: "guess"})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Register(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("REGISTER with a wrong password: %v, want 401", err)
	}
	anon, err := phone.New(phone.Config{User: "carol", Proxy: px.UDP, Domain: callsDomain})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alice := registeredPhone(t, phone.Config{User: "alice-" + tc.name, Proxy: px.UDP, Domain: callsDomain, Password: "alicepw", Late: tc.late})
			bob := registeredPhone(t, phone.Config{User: "bob-" + tc.name, Proxy: px.UDP, Domain: callsDomain, Password: "bobpw", Reliable: tc.reliable})
			a, b := placeCall(t, alice, bob, "bob-"+tc.name)
			checkMediaThrough(t, opts.NG, a, b)
			renegotiateBothWays(t, opts.NG, a, b, (*phone.Call).Reinvite)
			hangupAndCheck(t, opts.NG, a, b)
		})
	}

	// No credentials: 407, and the callee is not rung.
	bob := registeredPhone(t, phone.Config{User: "bob", Proxy: px.UDP, Domain: callsDomain, Password: "bobpw"})
	_, err = anon.Call(ctx, "bob")
	var se *phone.StatusError
	if !errors.As(err, &se) || se.Code != 407 {
		t.Errorf("call without credentials: %v, want 407", err)
	}
	if calls := ngCalls(t, opts.NG); len(calls) != 0 {
		t.Errorf("calls in the daemon after the refused INVITE: %v", calls)
	}
	rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer rcancel()
	if m, err := bob.Ring(rctx); err == nil {
		t.Errorf("the callee was rung: %s", m.Bytes())
	}
}

// TestCallsBrowserToPhoneAuth: the browser (JsSIP with a password)
// registers and calls a UDP phone through sipproxy with --auth-users, both
// answering digest challenges; audio flows both ways through mediad.
func TestCallsBrowserToPhoneAuth(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	ng := browserDaemon(t, "mediad")
	px := startProxy(t, []string{ng}, authUsers(t, "alice:alicepw", "bob:bobpw"))
	bob := registeredPhone(t, phone.Config{User: "bob", Proxy: px.UDP, Domain: callsDomain, Password: "bobpw"})
	url := servePage(t, bundle, pageSignals{}) + "?mode=call&user=alice&password=alicepw&target=bob&ws=wss://" + px.WSS
	res, c := browserCallsPhone(t, url, "", bob, nil)
	checkBrowserPhoneMedia(t, res, c, ng)
}
