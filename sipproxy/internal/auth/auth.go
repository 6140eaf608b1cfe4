// Package auth holds SIP digest authentication (RFC 3261 section 22,
// RFC 2617 with qop=auth): the subscriber table read from a file, and the
// challenge and check the OpenSIPS residential script runs with its auth
// option (www_challenge/www_authorize for REGISTER,
// proxy_challenge/proxy_authorize for requests from local users). The
// digest arithmetic is github.com/icholy/digest's; nonces are stateless.
package auth

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/icholy/digest"
)

// NonceLifetime is how long a nonce is accepted (OpenSIPS' nonce_expire
// default); a correct answer to an older one gets a stale challenge, which
// clients answer without asking the user again.
const NonceLifetime = 30 * time.Second

// subscriber is one line of the users file.
type subscriber struct {
	password string // plain text, or
	realm    string // the realm ha1 was computed for
	ha1      string // MD5(user:realm:password), hex
}

// Authenticator checks digest credentials against a subscriber table.
// It is safe for concurrent use; Reload swaps the table in whole.
type Authenticator struct {
	users  atomic.Pointer[map[string]subscriber]
	path   string // the users file, for Reload
	secret [32]byte
	now    func() time.Time
}

// Load reads a users file: one subscriber per line, "user:password" or
// Apache htdigest's "user:realm:HA1" (HA1 = hex MD5 of
// "user:realm:password", so the password is not stored); blank lines and
// lines starting with '#' are skipped.
func Load(path string) (*Authenticator, error) {
	users, err := readUsers(path)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{path: path, now: time.Now}
	if _, err := rand.Read(a.secret[:]); err != nil {
		return nil, err
	}
	a.users.Store(&users)
	return a, nil
}

// Reload reads the users file again and, if it is valid, serves from its
// table (nonces already given stay good); on error the old table stays.
// It returns the number of users.
func (a *Authenticator) Reload() (int, error) {
	users, err := readUsers(a.path)
	if err != nil {
		return 0, err
	}
	a.users.Store(&users)
	return len(users), nil
}

func readUsers(path string) (map[string]subscriber, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth users file: %w", err)
	}
	defer f.Close()
	users, err := parse(bufio.NewScanner(f))
	if err != nil {
		return nil, fmt.Errorf("auth users file %s: %w", path, err)
	}
	return users, nil
}

func parse(sc *bufio.Scanner) (map[string]subscriber, error) {
	users := map[string]subscriber{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		var s subscriber
		switch {
		case len(f) == 2 && f[0] != "" && f[1] != "":
			s.password = f[1]
		case len(f) == 3 && f[0] != "" && len(f[2]) == 32 && isHex(f[2]):
			s.realm, s.ha1 = f[1], strings.ToLower(f[2])
		default:
			return nil, fmt.Errorf("line %d: want user:password or user:realm:HA1 (32 hex digits)", n)
		}
		if _, dup := users[f[0]]; dup {
			return nil, fmt.Errorf("line %d: user %q given twice", n, f[0])
		}
		users[f[0]] = s
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, errors.New("no users")
	}
	return users, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Len is the number of subscribers.
func (a *Authenticator) Len() int { return len(*a.users.Load()) }

// Challenge is the WWW-Authenticate or Proxy-Authenticate value for realm;
// stale says the client's answer was right but its nonce too old.
func (a *Authenticator) Challenge(realm string, stale bool) string {
	c := digest.Challenge{Realm: realm, Nonce: a.nonce(realm, a.now()), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// nonce is the issue time and a MAC over it and the realm: no state is
// kept, and a nonce is good for one realm only.
func (a *Authenticator) nonce(realm string, t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.Unix()))
	return hex.EncodeToString(b[:]) + hex.EncodeToString(a.mac(realm, b[:]))
}

func (a *Authenticator) mac(realm string, ts []byte) []byte {
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts)
	m.Write([]byte(realm))
	return m.Sum(nil)[:16]
}

// nonceState: ok, stale (ours but expired), or not ours at all.
func (a *Authenticator) nonceState(nonce, realm string) (ok, stale bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 24 || !hmac.Equal(raw[8:], a.mac(realm, raw[:8])) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	age := a.now().Sub(issued)
	if age < -time.Second || age > NonceLifetime {
		return false, true
	}
	return true, false
}

// Outcome of Check.
type Outcome int

const (
	// Missing: no credentials for this realm; challenge.
	Missing Outcome = iota
	// Passed: the credentials are right; User names the subscriber.
	Passed
	// Stale: right, but the nonce expired; challenge with stale=true.
	Stale
	// Failed: wrong password, unknown user, a nonce not ours, or
	// malformed credentials; challenge again (and log it).
	Failed
)

// Result is Check's verdict.
type Result struct {
	Outcome Outcome
	User    string // the credentials' username (also when they failed)
	Reason  string // why they failed, for the log
}

// Check verifies the Authorization (or Proxy-Authorization) values of a
// request with method against realm: the first whose realm matches counts,
// as in OpenSIPS.
func (a *Authenticator) Check(values []string, method, realm string) Result {
	for _, v := range values {
		if !digest.IsDigest(v) {
			continue
		}
		cred, err := digest.ParseCredentials(v)
		if err != nil {
			return Result{Outcome: Failed, Reason: "malformed credentials: " + err.Error()}
		}
		if cred.Realm != realm {
			continue
		}
		return a.verify(cred, method)
	}
	return Result{Outcome: Missing}
}

func (a *Authenticator) verify(cred *digest.Credentials, method string) Result {
	r := Result{Outcome: Failed, User: cred.Username}
	if alg := strings.ToUpper(cred.Algorithm); alg != "" && alg != "MD5" {
		r.Reason = "algorithm " + cred.Algorithm + " not offered"
		return r
	}
	if cred.QOP != "" && cred.QOP != "auth" {
		r.Reason = "qop " + cred.QOP + " not offered"
		return r
	}
	s, known := (*a.users.Load())[cred.Username]
	if !known {
		r.Reason = "unknown user"
		return r
	}
	if s.ha1 != "" && s.realm != cred.Realm {
		r.Reason = "no password for realm " + cred.Realm
		return r
	}
	ok, stale := a.nonceState(cred.Nonce, cred.Realm)
	if !ok && !stale {
		r.Reason = "nonce not issued here"
		return r
	}
	chal := &digest.Challenge{Realm: cred.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, Opaque: cred.Opaque}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{Method: method, URI: cred.URI, Username: cred.Username,
		Password: s.password, A1: s.ha1, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		r.Reason = err.Error()
		return r
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) != 1 {
		r.Reason = "wrong password"
		return r
	}
	if stale {
		r.Outcome, r.Reason = Stale, "nonce expired"
		return r
	}
	r.Outcome, r.Reason = Passed, ""
	return r
}
