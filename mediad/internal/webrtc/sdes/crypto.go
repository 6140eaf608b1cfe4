package sdes

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// ErrBadCrypto is returned for an a=crypto value that cannot be parsed.
var ErrBadCrypto = errors.New("bad a=crypto attribute")

// Crypto is one a=crypto value. Key holds master key then master salt.
type Crypto struct {
	Tag      int
	Suite    string
	Key      []byte
	Lifetime string   // as written after the first '|', "" if absent
	MKI      string   // "value:length", "" if absent
	Params   []string // session parameters, e.g. UNENCRYPTED_SRTCP
}

// Parse parses an a=crypto value (the text after "crypto:"; a leading
// "crypto:" is accepted). Only the first key-param is used.
func Parse(s string) (Crypto, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "crypto:")
	f := strings.Fields(s)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: %q", ErrBadCrypto, s)
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: tag %q", ErrBadCrypto, f[0])
	}
	c := Crypto{Tag: tag, Suite: f[1], Params: f[3:]}
	kp, _, _ := strings.Cut(f[2], ";")
	rest, ok := strings.CutPrefix(kp, "inline:")
	if !ok {
		return Crypto{}, fmt.Errorf("%w: key method in %q", ErrBadCrypto, f[2])
	}
	parts := strings.Split(rest, "|")
	if len(parts) > 3 {
		return Crypto{}, fmt.Errorf("%w: key params %q", ErrBadCrypto, rest)
	}
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	if err != nil || len(key) == 0 {
		return Crypto{}, fmt.Errorf("%w: key: %v", ErrBadCrypto, err)
	}
	c.Key = key
	for _, p := range parts[1:] {
		if strings.Contains(p, ":") {
			c.MKI = p
		} else {
			c.Lifetime = p
		}
	}
	if suite, ok := LookupSuite(c.Suite); ok {
		c.Suite = suite.Name
		if len(c.Key) != suite.KeyLen+suite.SaltLen {
			return Crypto{}, fmt.Errorf("%w: %s key length %d", ErrBadCrypto, suite.Name, len(c.Key))
		}
	}
	return c, nil
}

// Format writes the value as rtpengine does: no base64 padding unless pad.
func (c Crypto) Format(pad bool) string {
	enc := base64.RawStdEncoding
	if pad {
		enc = base64.StdEncoding
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s inline:%s", c.Tag, c.Suite, enc.EncodeToString(c.Key))
	if c.Lifetime != "" {
		b.WriteString("|" + c.Lifetime)
	}
	if c.MKI != "" {
		b.WriteString("|" + c.MKI)
	}
	for _, p := range c.Params {
		b.WriteString(" " + p)
	}
	return b.String()
}

// String is Format(false).
func (c Crypto) String() string { return c.Format(false) }

// New makes a crypto line with fresh random key material.
func New(tag int, s Suite) (Crypto, error) {
	key := make([]byte, s.KeyLen+s.SaltLen)
	if _, err := rand.Read(key); err != nil {
		return Crypto{}, fmt.Errorf("SDES key: %w", err)
	}
	return Crypto{Tag: tag, Suite: s.Name, Key: key}, nil
}

// Offer returns one fresh line per allowed suite, tags numbered from 1.
func Offer(p Policy) ([]Crypto, error) {
	return OfferAfter(nil, p)
}

// OfferAfter returns first the lines passed through from the other party
// (as they are) and then one fresh line for every allowed suite not among
// them, numbered after them: rtpengine's offer when both sides use SDES.
func OfferAfter(passed []Crypto, p Policy) ([]Crypto, error) {
	out := append([]Crypto(nil), passed...)
	tag := 0
	have := map[string]bool{}
	for _, c := range passed {
		tag = max(tag, c.Tag)
		have[strings.ToUpper(c.Suite)] = true
	}
	for _, s := range OfferSuites(p) {
		if have[s.Name] {
			continue
		}
		tag++
		c, err := New(tag, s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Answer picks the first offered line whose suite is supported and allowed
// and returns it with our answer line (same tag and suite, fresh key).
func Answer(offered []Crypto, p Policy) (remote, local Crypto, err error) {
	for _, o := range offered {
		s, ok := LookupSuite(o.Suite)
		if !ok || !s.Supported() || !p.allows(s.Name) || o.MKI != "" {
			continue
		}
		l, err := New(o.Tag, s)
		if err != nil {
			return Crypto{}, Crypto{}, err
		}
		l.Params = sessionParams(o.Params)
		return o, l, nil
	}
	return Crypto{}, Crypto{}, errors.New("no acceptable SDES crypto suite offered")
}

// sessionParams keeps the parameters an answer must echo.
func sessionParams(in []string) []string {
	var out []string
	for _, p := range in {
		switch p {
		case "UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP":
			out = append(out, p)
		}
	}
	return out
}

// SessionKeys builds SRTP keys from our line (what we send with) and the
// peer's line (what we receive with); both must name the same suite.
func SessionKeys(local, remote Crypto) (srtp.ProtectionProfile, srtp.SessionKeys, error) {
	s, ok := LookupSuite(local.Suite)
	if !ok || !s.Supported() || !strings.EqualFold(local.Suite, remote.Suite) {
		return 0, srtp.SessionKeys{}, fmt.Errorf("SDES suites %q/%q not usable", local.Suite, remote.Suite)
	}
	n := s.KeyLen + s.SaltLen
	if len(local.Key) != n || len(remote.Key) != n {
		return 0, srtp.SessionKeys{}, fmt.Errorf("%w: key length", ErrBadCrypto)
	}
	return s.Profile, srtp.SessionKeys{
		LocalMasterKey: local.Key[:s.KeyLen], LocalMasterSalt: local.Key[s.KeyLen:],
		RemoteMasterKey: remote.Key[:s.KeyLen], RemoteMasterSalt: remote.Key[s.KeyLen:],
	}, nil
}

// Unencrypted reports the UNENCRYPTED_SRTP / UNENCRYPTED_SRTCP parameters.
func (c Crypto) Unencrypted() (rtp, rtcp bool) {
	for _, p := range c.Params {
		switch p {
		case "UNENCRYPTED_SRTP":
			rtp = true
		case "UNENCRYPTED_SRTCP":
			rtcp = true
		}
	}
	return rtp, rtcp
}
