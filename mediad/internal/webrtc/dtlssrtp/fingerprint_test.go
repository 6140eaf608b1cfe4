package dtlssrtp

import (
	"errors"
	"strings"
	"testing"
)

func TestCertificateFingerprint(t *testing.T) {
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := cert.Fingerprint("SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	s := fp.String()
	// rtpengine's form: "sha-256 " + 95 characters of upper-case hex.
	if !strings.HasPrefix(s, "sha-256 ") || len(s) != len("sha-256 ")+95 || strings.ToUpper(s[8:]) != s[8:] {
		t.Fatalf("bad format %q", s)
	}
	back, err := ParseFingerprint(strings.ToLower(s))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Matches(cert.der) {
		t.Fatal("parsed fingerprint does not match the certificate")
	}
	for _, h := range []string{"sha-1", "sha-224", "sha-384", "sha-512"} {
		f, err := cert.Fingerprint(h)
		if err != nil || !f.Matches(cert.der) {
			t.Fatalf("%s: %v", h, err)
		}
	}
	other, _ := NewCertificate()
	if back.Matches(other.der) {
		t.Fatal("fingerprint matches another certificate")
	}
}

func TestParseFingerprintErrors(t *testing.T) {
	for _, bad := range []string{
		"", "sha-256", "md5 AB:CD", "sha-256 AB:CD",
		"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:3G",
		"sha-1 00-11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33",
	} {
		if _, err := ParseFingerprint(bad); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestRoles(t *testing.T) {
	if AnswerRole(SetupActpass, false) != RoleClient || AnswerRole(SetupActpass, true) != RoleServer ||
		AnswerRole(SetupActive, false) != RoleServer || AnswerRole(SetupPassive, true) != RoleClient {
		t.Fatal("AnswerRole")
	}
	if OfferRole(SetupActive) != RoleServer || OfferRole(SetupPassive) != RoleClient {
		t.Fatal("OfferRole")
	}
	id, err := NewTLSID()
	if err != nil || len(id) != 32 {
		t.Fatalf("tls-id %q %v", id, err)
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add("sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08")
	f.Add("sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33")
	f.Add("SHA-512 zz")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		back, err := ParseFingerprint(fp.String())
		if err != nil || back.String() != fp.String() {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}
