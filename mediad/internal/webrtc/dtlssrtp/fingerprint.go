package dtlssrtp

import (
	"crypto/sha1" //nolint:gosec // sha-1 fingerprints are still offered by peers
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ErrBadFingerprint is returned for an unparsable a=fingerprint value or an
// unsupported hash function.
var ErrBadFingerprint = errors.New("bad DTLS fingerprint")

// Fingerprint is one a=fingerprint value: the hash function name in lower
// case and the digest.
type Fingerprint struct {
	Hash   string
	Digest []byte
}

var hashes = map[string]func() hash.Hash{
	"sha-1":   sha1.New,
	"sha-224": sha256.New224,
	"sha-256": sha256.New,
	"sha-384": sha512.New384,
	"sha-512": sha512.New,
}

// DefaultHash is used unless the peer's a=fingerprint asks for another.
const DefaultHash = "sha-256"

// SupportedHash reports whether name (any case) is a hash we can compute.
func SupportedHash(name string) bool {
	_, ok := hashes[strings.ToLower(name)]
	return ok
}

// FingerprintOf hashes a DER certificate.
func FingerprintOf(hashName string, der []byte) (Fingerprint, error) {
	name := strings.ToLower(hashName)
	h, ok := hashes[name]
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: hash %q", ErrBadFingerprint, hashName)
	}
	d := h()
	d.Write(der)
	return Fingerprint{Hash: name, Digest: d.Sum(nil)}, nil
}

// ParseFingerprint parses "sha-256 AB:CD:..." (the a=fingerprint value).
func ParseFingerprint(s string) (Fingerprint, error) {
	name, hexs, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: %q", ErrBadFingerprint, s)
	}
	name = strings.ToLower(name)
	h, ok := hashes[name]
	if !ok {
		return Fingerprint{}, fmt.Errorf("%w: hash %q", ErrBadFingerprint, name)
	}
	hexs = strings.TrimSpace(hexs)
	size := h().Size()
	if len(hexs) != 3*size-1 {
		return Fingerprint{}, fmt.Errorf("%w: length %d for %s", ErrBadFingerprint, len(hexs), name)
	}
	digest := make([]byte, size)
	for i := range size {
		if i > 0 && hexs[3*i-1] != ':' {
			return Fingerprint{}, fmt.Errorf("%w: separator at %d", ErrBadFingerprint, 3*i-1)
		}
		if _, err := hex.Decode(digest[i:i+1], []byte(hexs[3*i:3*i+2])); err != nil {
			return Fingerprint{}, fmt.Errorf("%w: %w", ErrBadFingerprint, err)
		}
	}
	return Fingerprint{Hash: name, Digest: digest}, nil
}

// String formats the value as rtpengine does: "sha-256 " and upper-case
// colon-separated hex.
func (f Fingerprint) String() string {
	var b strings.Builder
	b.Grow(len(f.Hash) + 1 + 3*len(f.Digest))
	b.WriteString(f.Hash)
	b.WriteByte(' ')
	const digits = "0123456789ABCDEF"
	for i, c := range f.Digest {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// Matches reports whether der hashes to f.
func (f Fingerprint) Matches(der []byte) bool {
	got, err := FingerprintOf(f.Hash, der)
	return err == nil && subtle.ConstantTimeCompare(got.Digest, f.Digest) == 1
}
