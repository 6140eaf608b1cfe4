package auth

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

func newAuth(t testing.TB, lines string) *Authenticator {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// answer is what a client sends back to challenge chal.
func answer(t testing.TB, chal, method, uri, user, password string) string {
	t.Helper()
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func ha1(user, realm, password string) string {
	h := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h[:])
}

func TestCheck(t *testing.T) {
	a := newAuth(t, "# subscribers\nalice:secret\n\nbob:example.com:"+ha1("bob", "example.com", "pw")+"\n")
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }
	const realm = "example.com"
	chal := a.Challenge(realm, false)
	if !strings.Contains(chal, `realm="example.com"`) || !strings.Contains(chal, `qop="auth"`) || strings.Contains(chal, "stale") {
		t.Fatalf("challenge %s", chal)
	}
	uri := "sip:example.com"
	for _, tc := range []struct {
		name   string
		values []string
		method string
		want   Outcome
		user   string
	}{
		{"none", nil, "REGISTER", Missing, ""},
		{"other realm only", []string{answer(t, strings.Replace(chal, realm, "other.net", 1), "REGISTER", uri, "alice", "secret")}, "REGISTER", Missing, ""},
		{"basic is no digest", []string{"Basic YWxpY2U6c2VjcmV0"}, "REGISTER", Missing, ""},
		{"right", []string{answer(t, chal, "REGISTER", uri, "alice", "secret")}, "REGISTER", Passed, "alice"},
		{"htdigest", []string{answer(t, chal, "INVITE", uri, "bob", "pw")}, "INVITE", Passed, "bob"},
		{"wrong password", []string{answer(t, chal, "REGISTER", uri, "alice", "guess")}, "REGISTER", Failed, "alice"},
		{"other method", []string{answer(t, chal, "REGISTER", uri, "alice", "secret")}, "INVITE", Failed, "alice"},
		{"unknown user", []string{answer(t, chal, "REGISTER", uri, "mallory", "secret")}, "REGISTER", Failed, "mallory"},
		{"foreign nonce", []string{answer(t, `Digest realm="example.com", nonce="00000000deadbeef", qop="auth"`, "REGISTER", uri, "alice", "secret")}, "REGISTER", Failed, "alice"},
		{"malformed", []string{`Digest username="alice", realm="example.com", nc=zz`}, "REGISTER", Failed, ""},
		{"no qop (RFC 2069)", []string{answer(t, strings.Replace(chal, `, qop="auth"`, "", 1), "REGISTER", uri, "alice", "secret")}, "REGISTER", Passed, "alice"},
	} {
		r := a.Check(tc.values, tc.method, realm)
		if r.Outcome != tc.want || r.User != tc.user {
			t.Errorf("%s: %+v, want outcome %d user %q", tc.name, r, tc.want, tc.user)
		}
	}
	// The nonce of another realm is not good here, even with the right
	// password for it.
	other := a.Challenge("other.net", false)
	v := answer(t, strings.Replace(other, "other.net", realm, 1), "REGISTER", uri, "alice", "secret")
	if r := a.Check([]string{v}, "REGISTER", realm); r.Outcome != Failed {
		t.Errorf("nonce of another realm: %+v", r)
	}
	// An expired nonce with the right answer is stale; a wrong one fails.
	right := answer(t, chal, "REGISTER", uri, "alice", "secret")
	wrong := answer(t, chal, "REGISTER", uri, "alice", "guess")
	now = now.Add(NonceLifetime + time.Second)
	if r := a.Check([]string{right}, "REGISTER", realm); r.Outcome != Stale {
		t.Errorf("expired nonce: %+v", r)
	}
	if r := a.Check([]string{wrong}, "REGISTER", realm); r.Outcome != Failed {
		t.Errorf("expired nonce, wrong password: %+v", r)
	}
	if c := a.Challenge(realm, true); !strings.Contains(c, "stale=true") {
		t.Errorf("stale challenge %s", c)
	}
	// bob's HA1 is for example.com only.
	if r := a.Check([]string{answer(t, other, "REGISTER", uri, "bob", "pw")}, "REGISTER", "other.net"); r.Outcome != Failed {
		t.Errorf("htdigest user in another realm: %+v", r)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text, err string
	}{
		{"alice:secret\n", ""},
		{"", "no users"},
		{"alice\n", "line 1"},
		{"alice:secret\nalice:other\n", "given twice"},
		{"bob:realm:nothex\n", "line 1"},
		{"a:b:c:d\n", "line 1"},
	} {
		p := filepath.Join(dir, "users")
		if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// FuzzCheck: no credentials value crashes the check, and none passes
// without the password.
func FuzzCheck(f *testing.F) {
	a := newAuth(f, "alice:secret\n")
	chal := a.Challenge("example.com", false)
	f.Add(answer(f, chal, "REGISTER", "sip:example.com", "alice", "guess"))
	f.Add(`Digest username="alice", realm="example.com", nonce="", response=""`)
	f.Add(`Digest realm="example.com", algorithm=SHA-256, qop=auth-int, nc=00000001`)
	f.Fuzz(func(t *testing.T, v string) {
		if r := a.Check([]string{v}, "REGISTER", "example.com"); r.Outcome == Passed || r.Outcome == Stale {
			t.Fatalf("%q passed: %+v", v, r)
		}
	})
}

// TestReload: a reload adds and removes users, keeps the nonces given out,
// and a broken file leaves the old table.
func TestReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte("alice:one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	chal := a.Challenge("example.com", false)
	check := func(user, pw string) Outcome {
		return a.Check([]string{answer(t, chal, "REGISTER", "sip:example.com", user, pw)}, "REGISTER", "example.com").Outcome
	}
	if err := os.WriteFile(p, []byte("dave:two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Reload(); n != 1 || err != nil {
		t.Fatalf("reload: %d %v", n, err)
	}
	if check("dave", "two") != Passed || check("alice", "one") != Failed {
		t.Errorf("after the reload: dave %d, alice %d", check("dave", "two"), check("alice", "one"))
	}
	if err := os.WriteFile(p, []byte("dave\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("broken file: %v", err)
	}
	if check("dave", "two") != Passed {
		t.Error("a broken file replaced the table")
	}
}
