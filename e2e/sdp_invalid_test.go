package e2e

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sipmedia/ngproto"
)

var mLineRE = regexp.MustCompile(`(?m)^m=`)

// TestInvalidSDP offers SDPs with empty lines, a line of blanks and a
// stray last character to rtpengine and mediad, with and without
// --reject-invalid-sdp: each must be refused, or answered with as many
// media, alike. rtpengine 10.5 ends the body at an empty line (what
// follows is ignored, even if it is no SDP) unless told to reject it.
func TestInvalidSDP(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	second := "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
	cases := map[string]string{
		"empty line":           base + "\r\n" + second,
		"trailing empty line":  base + second + "\r\n",
		"trailing blank":       base + "a=sendrecv \r\n" + second,
		"line of blanks":       base + " \r\n" + second,
		"LF empty line":        strings.ReplaceAll(base, "\r\n", "\n") + "\n" + strings.ReplaceAll(second, "\r\n", "\n"),
		"no SDP after it":      base + "\r\nhello world\r\n",
		"last line of a char":  base + "x",
		"plain, for reference": base + second,
	}
	for _, flags := range [][]string{nil, {"--reject-invalid-sdp"}} {
		t.Run(fmt.Sprint(flags), func(t *testing.T) {
			m, r := compareOnBoth(t, flags, func(t *testing.T, name, ng string) map[string]string {
				out := map[string]string{}
				for k, sdp := range cases {
					rep := ngTry(t, ng, ngproto.Dict{"command": "offer", "call-id": "inv-" + k, "from-tag": "a", "sdp": sdp})
					out[k] = fmt.Sprintf("%q, %d media", rep.Str("error-reason"), len(mLineRE.FindAllString(rep.Str("sdp"), -1)))
				}
				return out
			})
			for _, k := range slices.Sorted(maps.Keys(cases)) {
				if m[k] != r[k] {
					t.Errorf("%s: mediad %s, rtpengine %s", k, m[k], r[k])
				}
			}
			want := `"", 1 media`
			if flags != nil {
				want = `"Failed to parse SDP", 0 media`
			}
			if m["empty line"] != want || m["plain, for reference"] != `"", 2 media` {
				t.Errorf("empty line: %s, plain: %s", m["empty line"], m["plain, for reference"])
			}
		})
	}
}
