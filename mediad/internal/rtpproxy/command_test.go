package rtpproxy

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	a4 := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		line string
		want Command
	}{
		// Kamailio's rtpproxy module: codecs in the flags, media number
		// after the tags.
		{"12345_1 Uc0,8,101 abc@host 192.0.2.1 4000 ftag;1\n",
			Command{Cookie: "12345_1", Op: 'U', Flags: "c0,8,101", CallID: "abc@host", Addr: a4, Port: 4000, FromTag: "ftag", Index: 1}},
		{"c2 uie call;z9hG4bK1 192.0.2.1 4000 ftag;2 ttag;2",
			Command{Cookie: "c2", Op: 'U', Flags: "ie", CallID: "call", ViaBranch: "z9hG4bK1", Addr: a4, Port: 4000, FromTag: "ftag", Index: 2, ToTag: "ttag"}},
		{"c3 L call 2001:db8::1 0 ftag;0 ttag;1 trailing words\r\n",
			Command{Cookie: "c3", Op: 'L', CallID: "call", Addr: netip.MustParseAddr("2001:db8::1"), FromTag: "ftag", Index: 1, ToTag: "ttag"}},
		{"c4 U call ::ffff:192.0.2.1 4000 f;1",
			Command{Cookie: "c4", Op: 'U', CallID: "call", Addr: a4, Port: 4000, FromTag: "f", Index: 1}},
		// A call-id may hold blanks: [^;]+ backs off to the address.
		{"c5 U a b 192.0.2.1 4000 f;1",
			Command{Cookie: "c5", Op: 'U', CallID: "a b", Addr: a4, Port: 4000, FromTag: "f", Index: 1}},
		{"c6 D call;br ftag;1 ttag;1\n", Command{Cookie: "c6", Op: 'D', CallID: "call", ViaBranch: "br", FromTag: "ftag", ToTag: "ttag"}},
		{"c7 d call ftag", Command{Cookie: "c7", Op: 'D', CallID: "call", FromTag: "ftag"}},
		{"c8 Q call ftag ttag", Command{Cookie: "c8", Op: 'Q', CallID: "call", FromTag: "ftag", ToTag: "ttag"}},
		{"c9 V", Command{Cookie: "c9", Op: 'V'}},
		{"c10 VF 20050322", Command{Cookie: "c10", Op: 'V', Flags: "F", Version: "20050322"}},
	} {
		got, err := Parse([]byte(tc.line))
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, *got, tc.want)
		}
	}
}

func TestParseRefused(t *testing.T) {
	for _, tc := range []struct {
		line     string
		fallback string // "" = no answer
		bad      bool   // parsed, but a value is out of range
	}{
		{"", "", false},
		{" ", "", false},
		// U without a from-tag: the fallback echoes the address and port.
		{"c1 U call 192.0.2.1 4000", "c1 4000 192.0.2.1\n", false},
		{"c2 X", "c2 E8\n", false},
		{"c3 Lxx call host 9 tag", "c3 9 host\n", false},
		{"c4 D", "c4 E8\n", false},
		{"c5 U call 999.1.1.1 4000 f;1", "", true},
		{"c6 U call 192.0.2.1 70000 f;1", "", true},
		{"c7 U call ::::::::1 4000 f;1", "", true},
	} {
		c, err := Parse([]byte(tc.line))
		var m *Malformed
		switch {
		case tc.bad:
			if !errors.Is(err, ErrBadValue) || c == nil || c.Cookie == "" {
				t.Errorf("%q: %v %+v, want a bad value with the cookie", tc.line, err, c)
			}
		case tc.fallback == "":
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("%q: %v, want no answer", tc.line, err)
			}
		case !errors.As(err, &m):
			t.Errorf("%q: %v %+v, want a malformed line", tc.line, err, c)
		case m.Fallback() != tc.fallback:
			t.Errorf("%q: fallback %q, want %q", tc.line, m.Fallback(), tc.fallback)
		}
	}
}

func TestDirections(t *testing.T) {
	c := &Command{Flags: "c0,8Eia"}
	if got := c.Directions(); !reflect.DeepEqual(got, []string{"external", "internal"}) {
		t.Errorf("directions %v", got)
	}
	c.Flags = "iie"
	if got := c.Directions(); !reflect.DeepEqual(got, []string{"internal", "internal"}) {
		t.Errorf("directions %v (only the first two count)", got)
	}
}

// FuzzParse: no line panics; what parses is in range, and what does not
// parse either gets rtpengine's fallback answer or none.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"12345_1 Uc0,8,101 abc@host 192.0.2.1 4000 ftag;1\n",
		"c2 L call;br 2001:db8::1 4000 ftag;1 ttag;1",
		"c3 D call ftag ttag", "c4 Q call ftag", "c5 VF 20040107", "c6 V",
		"c7 U call 192.0.2.1 4000", "c8 X", "", "c9 U a;b;c ::ffff:1.2.3.4 65535 t;99999999999999999999",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		var m *Malformed
		switch {
		case err == nil:
			if c.Cookie == "" || c.Op == 0 {
				t.Fatalf("%q: parsed without cookie or command: %+v", b, c)
			}
			if (c.Op == 'U' || c.Op == 'L') && (c.Port < 0 || c.Port > 65535 || c.Index < 1 || !c.Addr.IsValid()) {
				t.Fatalf("%q: out of range: %+v", b, c)
			}
		case errors.As(err, &m):
			if m.Cookie == "" || m.Fallback() == "" {
				t.Fatalf("%q: malformed without cookie", b)
			}
		case errors.Is(err, ErrBadValue):
			if c == nil || c.Cookie == "" {
				t.Fatalf("%q: bad value without cookie", b)
			}
		case !errors.Is(err, ErrSyntax):
			t.Fatalf("%q: unexpected error %v", b, err)
		}
	})
}

// TestParseVerticalTab: PCRE's \s, which rtpengine's grammar uses,
// includes the vertical tab.
func TestParseVerticalTab(t *testing.T) {
	c, err := Parse([]byte("c1\vD\vcall\vftag"))
	if err != nil || c.Op != 'D' || c.CallID != "call" || c.FromTag != "ftag" {
		t.Errorf("%+v %v", c, err)
	}
}
