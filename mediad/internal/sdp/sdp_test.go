package sdp

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readSeeds(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.sdp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed SDPs: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(b)
	}
	return out
}

func TestParseSeeds(t *testing.T) {
	for name, text := range readSeeds(t) {
		for _, eol := range []string{"\n", "\r\n"} {
			in := strings.ReplaceAll(text, "\n", eol)
			s, err := Parse(in)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// Writing reproduces the input (with CRLF) line for line.
			want := strings.ReplaceAll(text, "\n", "\r\n")
			if got := s.String(); got != want {
				t.Errorf("%s: round trip differs\n got: %q\nwant: %q", name, got, want)
			}
		}
	}
}

func TestParseStructure(t *testing.T) {
	s, err := Parse(readSeeds(t)["multi.sdp"])
	if err != nil {
		t.Fatal(err)
	}
	if s.Connection != nil {
		t.Errorf("unexpected session c=")
	}
	if len(s.Media) != 4 {
		t.Fatalf("media = %d, want 4", len(s.Media))
	}
	m := s.Media[1]
	if m.Type != "video" || m.Port != 6002 || m.Proto != "RTP/AVP" || !reflect.DeepEqual(m.Formats, []string{"96"}) {
		t.Errorf("media 1 = %+v", m)
	}
	if m.Connection == nil || m.Connection.Addr != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("media 1 c= = %+v", m.Connection)
	}
	if a, ok := m.Attr("fmtp"); !ok || a.Value != "96 profile-level-id=42e01f;packetization-mode=1" {
		t.Errorf("fmtp = %+v %v", a, ok)
	}
	if s.Media[2].Port != 0 {
		t.Errorf("rejected port = %d", s.Media[2].Port)
	}
	if got := s.Media[3].Formats; !reflect.DeepEqual(got, []string{"*"}) {
		t.Errorf("bfcp formats %v", got)
	}

	s6, err := Parse(readSeeds(t)["ipv6.sdp"])
	if err != nil {
		t.Fatal(err)
	}
	if s6.Connection == nil || !s6.Connection.Addr.Is6() || s6.Media[0].NumPorts != 2 {
		t.Errorf("ipv6: %+v %+v", s6.Connection, s6.Media[0])
	}
	h, err := Parse(readSeeds(t)["hold.sdp"])
	if err != nil {
		t.Fatal(err)
	}
	if !h.Connection.IsZero() {
		t.Errorf("hold c= not zero: %+v", h.Connection)
	}
}

func TestParseLenient(t *testing.T) {
	for name, in := range map[string]string{
		"no origin":        "v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n",
		"no name":          "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\n",
		"trailing blanks":  "v=0 \no=- 1 1 IN IP4 1.2.3.4\t\nm=audio 1 RTP/AVP 0\n\n\n",
		"bare CR":          "v=0\ro=- 1 1 IN IP4 1.2.3.4\rm=audio 1 RTP/AVP 0\r",
		"no final newline": "v=0\no=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0",
		"c with ttl":       "v=0\no=- 1 1 IN IP4 1.2.3.4\nc=IN IP4 224.2.1.1/127\nm=audio 1 RTP/AVP 0\n",
		"no media":         "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nt=0 0\n",
	} {
		if _, err := Parse(in); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseEmptyLine: as rtpengine 10.5's parser, the body ends at an
// empty line (the rest ignored, even if it is no SDP) and a last line of
// one character is ignored; with Strict an empty line is an error; a
// line of blanks is one either way.
func TestParseEmptyLine(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n"
	for _, tc := range []struct {
		name         string
		in           string
		media        int  // media parsed without Strict (-1: error)
		strictFailed bool // Strict refuses it
	}{
		{"empty line between media", head + "\r\nm=video 2 RTP/AVP 96\r\n", 1, true},
		{"LF empty line", strings.ReplaceAll(head, "\r\n", "\n") + "\nm=video 2 RTP/AVP 96\n", 1, true},
		{"no SDP after an empty line", head + "\r\nhello world\r\n", 1, true},
		{"trailing empty line", head + "\r\n", 1, true},
		{"last line of one character", head + "x", 1, false},
		{"line of blanks", head + " \r\nm=video 2 RTP/AVP 96\r\n", -1, true},
		{"plain", head + "m=video 2 RTP/AVP 96\r\n", 2, false},
	} {
		s, err := Parse(tc.in)
		switch {
		case tc.media < 0 && err == nil:
			t.Errorf("%s: parsed", tc.name)
		case tc.media >= 0 && (err != nil || len(s.Media) != tc.media):
			t.Errorf("%s: %v, want %d media", tc.name, err, tc.media)
		}
		if _, err := ParseOpts(tc.in, Options{Strict: true}); (err != nil) != tc.strictFailed || err != nil && !errors.Is(err, ErrParse) {
			t.Errorf("%s: strict: %v", tc.name, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"text":           "hello world",
		"no v":           "o=- 1 1 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\n",
		"garbage line":   "v=0\nfoo\n",
		"unknown type":   "v=0\no=- 1 1 IN IP4 1.2.3.4\nx=foo\n",
		"short origin":   "v=0\no=- 1 IN IP4 1.2.3.4\n",
		"bad port":       "v=0\nm=audio xx RTP/AVP 0\n",
		"port too large": "v=0\nm=audio 70000 RTP/AVP 0\n",
		"short m":        "v=0\nm=audio 1\n",
		"host name c":    "v=0\nc=IN IP4 foo.bar\n",
		"bad addr type":  "v=0\nc=IN IPX 1.2.3.4\n",
		"bad media c":    "v=0\nm=audio 1 RTP/AVP 0\nc=IN IP6 nope\n",
		"two o":          "v=0\no=- 1 1 IN IP4 1.2.3.4\no=- 2 2 IN IP4 1.2.3.4\n",
		"two session c":  "v=0\nc=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.5\n",
		"two media c":    "v=0\nc=IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\nc=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.5\n",
	} {
		if _, err := Parse(in); !errors.Is(err, ErrParse) {
			t.Errorf("%s: err = %v, want ErrParse", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range readSeeds(f) {
		f.Add(s)
		f.Add(strings.ReplaceAll(s, "\n", "\r\n"))
	}
	f.Add("v=0\no=- 1 IN IP4 1.2.3.4\n")
	f.Add("v=0\r\nc=IN IP6 ::/1\r\nm=audio 0/0 x\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error not ErrParse: %v", err)
			}
			return
		}
		// What we write must parse again to the same thing.
		out := s.String()
		s2, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if out2 := s2.String(); out2 != out {
			t.Fatalf("not stable:\n%q\n%q", out, out2)
		}
	})
}
