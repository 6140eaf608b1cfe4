package sdes

import (
	"slices"
	"strings"

	"github.com/pion/srtp/v3"
)

// Suite is one SDES crypto suite.
type Suite struct {
	Name    string
	Profile srtp.ProtectionProfile // zero when pion/srtp cannot run it
	KeyLen  int
	SaltLen int
}

// Supported reports whether mediad can encrypt and decrypt with the suite.
func (s Suite) Supported() bool { return s.Profile != 0 }

// suites lists every suite rtpengine knows, in rtpengine's offer order.
// AES_192_CM and F8 are recognised in offers but cannot be selected.
var suites = []Suite{
	{"AEAD_AES_256_GCM", srtp.ProtectionProfileAeadAes256Gcm, 32, 12},
	{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 16, 12},
	{"AES_256_CM_HMAC_SHA1_80", srtp.ProtectionProfileAes256CmHmacSha1_80, 32, 14},
	{"AES_256_CM_HMAC_SHA1_32", srtp.ProtectionProfileAes256CmHmacSha1_32, 32, 14},
	{"AES_192_CM_HMAC_SHA1_80", 0, 24, 14},
	{"AES_192_CM_HMAC_SHA1_32", 0, 24, 14},
	{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14},
	{"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14},
	{"F8_128_HMAC_SHA1_80", 0, 16, 14},
	{"F8_128_HMAC_SHA1_32", 0, 16, 14},
	{"NULL_HMAC_SHA1_80", srtp.ProtectionProfileNullHmacSha1_80, 16, 14},
	{"NULL_HMAC_SHA1_32", srtp.ProtectionProfileNullHmacSha1_32, 16, 14},
}

// SuiteOfProfile finds the suite pion's profile p runs.
func SuiteOfProfile(p srtp.ProtectionProfile) (Suite, bool) {
	for _, s := range suites {
		if s.Profile == p && p != 0 {
			return s, true
		}
	}
	return Suite{}, false
}

// LookupSuite finds a suite by name (case-insensitive).
func LookupSuite(name string) (Suite, bool) {
	for _, s := range suites {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Suite{}, false
}

// Policy filters suites as the NG SDES flags do: Only (SDES-only-SUITE)
// keeps just the named suites, Exclude (SDES-no-SUITE) drops them.
type Policy struct {
	Only    []string
	Exclude []string
}

func (p Policy) allows(name string) bool {
	has := func(list []string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, name) })
	}
	if len(p.Only) > 0 && !has(p.Only) {
		return false
	}
	return !has(p.Exclude)
}

// OfferSuites returns the suites the policy allows, in rtpengine's offer
// order. Like rtpengine it lists AES_192_CM and F8 too; an answer choosing
// one of those cannot be keyed (SessionKeys fails) and the stream stays
// without SRTP.
func OfferSuites(p Policy) []Suite {
	var out []Suite
	for _, s := range suites {
		if p.allows(s.Name) {
			out = append(out, s)
		}
	}
	return out
}
