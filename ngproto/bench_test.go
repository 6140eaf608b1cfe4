package ngproto

import "testing"

var benchOfferSDP = "v=0\r\no=- 1545997027 1 IN IP4 198.51.100.1\r\ns=tester\r\nt=0 0\r\n" +
	"m=audio 2000 RTP/AVP 0 8 101\r\nc=IN IP4 198.51.100.1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n"

func benchOffer() Dict {
	return Dict{
		"command": "offer", "call-id": "3848276298220188511@198.51.100.1", "from-tag": "as4cd4e3a1",
		"sdp": benchOfferSDP, "ICE": "remove", "transport-protocol": "RTP/AVP",
		"replace":       []any{"session-connection", "origin"},
		"flags":         []any{"trust-address"},
		"received-from": []any{"IP4", "198.51.100.1"},
		"supports":      []any{"load limit"},
	}
}

// BenchmarkDecodeEncodeOffer: one typical offer decoded and its reply
// (the SDP and result) encoded, as the daemon does per request.
func BenchmarkDecodeEncodeOffer(b *testing.B) {
	for _, enc := range []Encoding{Bencode, JSON} {
		b.Run(enc.String(), func(b *testing.B) {
			req, err := AppendMessage(nil, Message{Cookie: "12345_678_9", Body: benchOffer(), Encoding: enc})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			var out []byte
			for b.Loop() {
				m, err := DecodeMessage(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ParseRequest(m.Body); err != nil {
					b.Fatal(err)
				}
				reply := Dict{"result": "ok", "sdp": m.Body.Str("sdp")}
				out, err = AppendMessage(out[:0], Message{Cookie: m.Cookie, Body: reply, Encoding: m.Encoding})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseFlagString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFlagString("RTP/AVP replace-session-connection replace-origin ICE=remove", OpenSIPS); err != nil {
			b.Fatal(err)
		}
	}
}
