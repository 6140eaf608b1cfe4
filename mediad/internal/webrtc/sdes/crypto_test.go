package sdes

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseRtpengineLines(t *testing.T) {
	// Lines as rtpengine 10.5 offered them (see ../testdata).
	for _, line := range []string{
		"1 AEAD_AES_256_GCM inline:BJRLLbswF84w5cpXLEMbF4nS4Irg8bshsUf9QffrpYtDptXMGsejgMFFNJI",
		"2 AEAD_AES_128_GCM inline:gKwTEkI/SkMhtCmxWEGGkeXex6lkOkuiwMFlgg",
		"3 AES_256_CM_HMAC_SHA1_80 inline:cVk8zyCmc+uv0XJ/A60t1ztCqxWTSuyGwlZRn8eBr1rXeoEa2TrzD5D/AXQP4A",
		"5 AES_192_CM_HMAC_SHA1_80 inline:FzhA7ez0iqpPrk45nYIZrVVlfA6AFanRgugbvHQKPAIh55LqQmI",
		"7 AES_CM_128_HMAC_SHA1_80 inline:GFdjT5d8Dk7gU1RUjN1Q2qklwdBvyPT/g726e1sa",
		"8 AES_CM_128_HMAC_SHA1_32 inline:ZS+xoXxZKTgMkfnG8kdwlVvEsPghTjRAMiAe7UUa",
		"9 F8_128_HMAC_SHA1_80 inline:SvKpoJN9WVrNjqowJAkTZLZ/pUTF+FLvnh1dBkMh",
		"11 NULL_HMAC_SHA1_80 inline:oaAZKgEAlvpIIbj92zK8fDEDgw4UPs282bGsafFE",
	} {
		c, err := Parse(line)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if got := c.Format(false); got != line {
			t.Errorf("round trip:\n got %q\nwant %q", got, line)
		}
	}
}

func TestParseVariants(t *testing.T) {
	c, err := Parse("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 UNENCRYPTED_SRTCP")
	if err != nil {
		t.Fatal(err)
	}
	if c.Lifetime != "2^20" || c.MKI != "1:4" || len(c.Params) != 1 {
		t.Fatalf("%+v", c)
	}
	if _, rtcp := c.Unencrypted(); !rtcp {
		t.Fatal("UNENCRYPTED_SRTCP not seen")
	}
	padded := "2 AEAD_AES_128_GCM inline:gKwTEkI/SkMhtCmxWEGGkeXex6lkOkuiwMFlgg=="
	c, err = Parse(padded)
	if err != nil || !strings.HasSuffix(c.Format(true), "==") {
		t.Fatalf("pad: %v %q", err, c.Format(true))
	}
	for _, bad := range []string{
		"", "1 AES_CM_128_HMAC_SHA1_80", "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
		"1 AES_CM_128_HMAC_SHA1_80 uri:foo", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!",
		"1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", // wrong key length
		"1 AES_CM_128_HMAC_SHA1_80 inline:AAAA|a|b|c",
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrBadCrypto) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestOfferAnswerPolicy(t *testing.T) {
	offer, err := Offer(Policy{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, c := range offer {
		if c.Tag != i+1 {
			t.Fatalf("tag %d at %d", c.Tag, i)
		}
		names = append(names, c.Suite)
	}
	// rtpengine 10.5's offer, in its order.
	want := "AEAD_AES_256_GCM AEAD_AES_128_GCM AES_256_CM_HMAC_SHA1_80 AES_256_CM_HMAC_SHA1_32 AES_192_CM_HMAC_SHA1_80 AES_192_CM_HMAC_SHA1_32 " +
		"AES_CM_128_HMAC_SHA1_80 AES_CM_128_HMAC_SHA1_32 F8_128_HMAC_SHA1_80 F8_128_HMAC_SHA1_32 NULL_HMAC_SHA1_80 NULL_HMAC_SHA1_32"
	if strings.Join(names, " ") != want {
		t.Fatalf("offer suites %v", names)
	}
	// The answerer takes the first acceptable one, honouring no-/only-.
	remote, local, err := Answer(offer, Policy{Exclude: []string{"AEAD_AES_256_GCM"}})
	if err != nil || remote.Suite != "AEAD_AES_128_GCM" || local.Tag != remote.Tag || bytes.Equal(local.Key, remote.Key) {
		t.Fatalf("answer %+v %+v %v", remote, local, err)
	}
	_, local, err = Answer(offer, Policy{Only: []string{"AES_CM_128_HMAC_SHA1_32"}})
	if err != nil || local.Suite != "AES_CM_128_HMAC_SHA1_32" || local.Tag != 8 {
		t.Fatalf("only: %+v %v", local, err)
	}
	f8, _ := Parse("9 F8_128_HMAC_SHA1_80 inline:SvKpoJN9WVrNjqowJAkTZLZ/pUTF+FLvnh1dBkMh")
	if _, _, err := Answer([]Crypto{f8}, Policy{}); err == nil {
		t.Fatal("answered an unsupported suite")
	}
	if _, _, err := SessionKeys(local, remote); err == nil {
		t.Fatal("SessionKeys accepted mismatched suites")
	}
}

func TestOfferAfterPassthrough(t *testing.T) {
	a, _ := Parse("1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")
	b, _ := Parse("2 AES_CM_128_HMAC_SHA1_32 inline:VAzLKvoE3jG9cdH/AZsl/ZqWNXrUzyM4Gw6chrFr")
	out, err := OfferAfter([]Crypto{a, b}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 12 || out[0].String() != a.String() || out[1].String() != b.String() {
		t.Fatalf("passed lines not first: %v", out)
	}
	if out[2].Tag != 3 || out[2].Suite != "AEAD_AES_256_GCM" || out[11].Tag != 12 || out[11].Suite != "NULL_HMAC_SHA1_32" {
		t.Fatalf("numbering: %v / %v", out[2], out[11])
	}
	for _, c := range out[2:] {
		if c.Suite == "AES_CM_128_HMAC_SHA1_80" || c.Suite == "AES_CM_128_HMAC_SHA1_32" {
			t.Fatalf("suite offered twice: %v", c)
		}
	}
}

func FuzzParseCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:GFdjT5d8Dk7gU1RUjN1Q2qklwdBvyPT/g726e1sa")
	f.Add("2 AEAD_AES_128_GCM inline:gKwTEkI/SkMhtCmxWEGGkeXex6lkOkuiwMFlgg|2^31|1:4 UNENCRYPTED_SRTP")
	f.Add("3 FOO inline:AAAA;inline:BBBB")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(c.Format(false))
		if err != nil || !bytes.Equal(back.Key, c.Key) || back.Suite != c.Suite {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}
