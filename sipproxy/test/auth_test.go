package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSippAuth: with --auth-users, sipp's digest client registers and
// calls through the proxy (401 then 200 for the REGISTER; 407, ACK, then
// the authenticated INVITE relayed to a callee that authenticated too,
// without the caller's credentials); a wrong password gets 401 again, and
// another user's credentials 403 "Forbidden auth ID"; nothing is
// registered without the password.
func TestSippAuth(t *testing.T) {
	needSipp(t)
	p, _ := startAuthProxy(t, "caller:callerpw\ncallee-udp:udppw\ncallee-tcp:tcppw\nbob:bobpw\n")
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			callee := "callee-" + tp
			pw := tp + "pw"
			// Refused: a wrong password, then bob's right password for
			// callee's registration.
			for _, tc := range []struct{ au, ap, code string }{{callee, "guess", "401"}, {"bob", "bobpw", "403"}} {
				s := startSipp(t, "register_auth_refused.xml", tp, p.addr(), map[string]string{"user": callee, "au": tc.au, "ap": tc.ap})
				if err := s.Wait(); err != nil {
					t.Fatalf("%s/%s: %v", tc.au, tc.ap, err)
				}
				msgs := s.messages()
				if n := strings.Count(msgs, "SIP/2.0 "+tc.code+" "); tc.code == "401" && n != 2 || tc.code == "403" && (n != 1 || !strings.Contains(msgs, "403 Forbidden auth ID")) {
					t.Errorf("%s/%s: want the second REGISTER refused with %s; messages:\n%s", tc.au, tc.ap, tc.code, tail([]byte(msgs), 3000))
				}
			}
			if rs := p.registrations(t, callee); len(rs) != 0 {
				t.Fatalf("registered without the password: %+v", rs)
			}

			cid := fmt.Sprintf("auth-%s-%d@test", tp, time.Now().UnixNano())
			uas := startSipp(t, "uas_register_auth_answer.xml", tp, p.addr(), map[string]string{"user": callee, "cid": cid, "au": callee, "ap": pw})
			p.waitRegistered(t, callee, 1)
			uac := startSipp(t, "uac_call_auth.xml", tp, p.addr(), map[string]string{"user": callee, "cid": cid, "au": "caller", "ap": "callerpw"})
			if err := uac.Wait(); err != nil {
				t.Fatalf("caller: %v", err)
			}
			if err := uas.Wait(); err != nil {
				t.Fatalf("callee: %v", err)
			}
			// consume_credentials(): the callee never sees them.
			if m := uas.messages(); strings.Contains(m, "Proxy-Authorization") {
				t.Errorf("the caller's credentials reached the callee:\n%s", tail([]byte(m), 3000))
			}
		})
	}
	c, err := p.counters()
	if err != nil {
		t.Fatal(err)
	}
	// Per transport: 3 REGISTER challenges + 1 INVITE challenge + the
	// wrong password's second 401; failures: the wrong password and bob.
	if c["auth_challenges"] != 10 || c["auth_failures"] != 4 {
		t.Errorf("auth counters: challenges %d (want 10), failures %d (want 4)", c["auth_challenges"], c["auth_failures"])
	}
}

// TestSippAuthReload: SIGHUP makes sipproxy read --auth-users again: a
// user added to the file registers without a restart, and a broken file
// leaves the users as they were.
func TestSippAuthReload(t *testing.T) {
	needSipp(t)
	p, users := startAuthProxy(t, "alice:alicepw\n")
	dave := map[string]string{"user": "dave", "au": "dave", "ap": "davepw"}
	runSipp(t, "register_auth_refused.xml", "udp", p.addr(), dave)
	if err := os.WriteFile(users, []byte("alice:alicepw\ndave:davepw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.hangup(t, "auth users reloaded")
	runSipp(t, "register_auth.xml", "udp", p.addr(), dave)
	p.waitRegistered(t, "dave", 1)
	if err := os.WriteFile(users, []byte("dave\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.hangup(t, "auth users not reloaded")
	runSipp(t, "register_auth.xml", "udp", p.addr(), dave)
}

// startAuthProxy starts sipproxy with --auth-users, a file holding users;
// it returns the file's path too.
func startAuthProxy(t *testing.T, users string) (*proxy, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProxy(t, "--auth-users="+path), path
}
