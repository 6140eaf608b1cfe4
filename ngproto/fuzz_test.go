package ngproto

import (
	"reflect"
	"strings"
	"testing"
)

var fuzzMessages = []string{
	"c1 d7:command4:pinge",
	"c2 d7:command5:offer7:call-id3:abc8:from-tag2:ft3:sdp9:v=0\r\no=-\r\n5:flagsl13:trust-addresse7:replacel6:origine3:ICE6:removee",
	`c3 {"command":"offer","call-id":"x","flags":["trust-address"],"codec":{"strip":["PCMA"]},"n":5}`,
	"c4 d", "c5 d3:foo", "c6 di1ei2ee", "c7 d1:ai05ee", "c8 d1:a05:helloe", "c9 d3:foo99999:x",
	`d1 {"command":`, `d2 {"command":"ping"} x`, `d3 {"command":"ping","x":null}`, `d4 {"x":1.5}`,
	"d5 d7:command4:pingegarbage", "d6 d7:command4:ping5:flagsl", "d7 d1:ai+5ee", "nocookie", " d1:ai1ee", "e ",
	"d8 " + strings.Repeat("l", 70) + strings.Repeat("e", 70),
	"d9 d1:a" + strings.Repeat("l", 60) + "i1e" + strings.Repeat("e", 60) + "e",
}

// FuzzDecodeMessage: framing + bencode + JSON. Anything decoded must
// re-encode, decode again to the same dictionary, and only hold the
// normalised kinds.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzMessages {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if Reason(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		checkKinds(t, m.Body, 0)
		for _, enc := range []Encoding{Bencode, JSON} {
			out, err := AppendMessage(nil, Message{Cookie: m.Cookie, Body: m.Body, Encoding: enc})
			if err != nil {
				t.Fatalf("re-encode %v: %v", enc, err)
			}
			m2, err := DecodeMessage(out)
			if err != nil {
				// JSON cannot carry invalid UTF-8 unchanged, and a re-encoded
				// dictionary may exceed the datagram limit
				if enc == JSON || len(out) > MaxMessageSize {
					continue
				}
				t.Fatalf("decode re-encoded %q: %v", out, err)
			}
			if enc == Bencode && (m2.Cookie != m.Cookie || !reflect.DeepEqual(m2.Body, m.Body)) {
				t.Fatalf("round trip changed %#v into %#v", m.Body, m2.Body)
			}
		}
	})
}

func checkKinds(t *testing.T, v any, depth int) {
	if depth > MaxDepth+1 {
		t.Fatalf("nesting %d beyond limit", depth)
	}
	switch x := v.(type) {
	case string, int64:
	case Dict:
		for _, e := range x {
			checkKinds(t, e, depth+1)
		}
	case []any:
		for _, e := range x {
			checkKinds(t, e, depth+1)
		}
	default:
		t.Fatalf("value of kind %T", v)
	}
}

var fuzzFlagStrings = []string{
	"RTP/AVP replace-session-connection replace-origin ICE=remove",
	"ICE=force-relay DTLS=passive",
	"UDP/TLS/RTP/SAVPF ICE=force",
	"in-iface=pub out-iface=priv trust-address delete-delay=10 address-family=IP6",
	"codec=[strip=[all] transcode=[PCMA opus] offer=x--y] flags=[a b..c]",
	"SDES-off codec-strip-PCMA transcode-opus T38-decode TOS=184 direction=a direction=b received-from=::1",
	"via-branch=auto-next to-tag=t from-tag=f call-id=c repacketize=20 force-answer",
	"x=[[[[[[[[[[a]]]]]]]]]]", "a=[b", "=x", "  ", "RTP DTLS AVPF SRTP",
}

func FuzzParseFlagString(f *testing.F) {
	for _, s := range fuzzFlagStrings {
		for d := OpenSIPS; d <= Daemon; d++ {
			f.Add(s, uint8(d))
		}
	}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		dict, err := ParseFlagString(s, Dialect(d%3))
		if err != nil {
			return
		}
		checkKinds(t, dict, 0)
		if _, err := EncodeBody(dict, Bencode); err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range fuzzMessages {
		f.Add([]byte(s))
	}
	f.Add([]byte("c d7:command5:offer10:rtpp-flags46:RTP/AVP replace-origin ICE=remove WebRTC SDES-off5:flagsl6:WebRTC16:codec-strip-PCMA11:rtcp-mux-ee"))
	f.Add([]byte(`c {"command":"offer","rtpp-flags":"internal external codec-mask=[PCMA]","ICE":["lite-bkw","trickle"],"received-from":"1.2.3.4","codec":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		r, err := ParseRequest(m.Body)
		if err != nil {
			if Reason(err) == "" {
				t.Fatal("error without reason")
			}
			return
		}
		if r.Command == "" || r.Flags == nil || r.Raw == nil {
			t.Fatalf("incomplete request %+v", r)
		}
		for f := range r.Flags {
			if f != canonFlag(f) {
				t.Fatalf("flag %q not canonical", f)
			}
		}
		if r.Codec != nil {
			checkKinds(t, r.Codec, 0)
		}
	})
}
