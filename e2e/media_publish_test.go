package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"sipmedia/ngproto"
)

// TestPublish runs rtpengine's publish (media offered to the daemon
// alone, for subscribers) on rtpengine and mediad side by side: the
// daemon's recvonly answer with one codec (the first, or the accept
// list's), the subscription's offer mirroring that codec, the packets a
// subscriber receives of each payload type, and the errors.
func TestPublish(t *testing.T) {
	type outcome struct {
		answers  []string
		subOffer string
		got      map[string]int
		pubFlags string
		errors   []string
	}
	m, re := compareOnBoth(t, nil, func(t *testing.T, name, ng string) *outcome {
		o := &outcome{got: map[string]int{}}
		callID := "pub-" + name
		p := newBlockParty(t, "tp", 0x4444)
		s := newBlockParty(t, "ts", 0x3333)
		// PCMA first, then PCMU and DTMF events, sendonly.
		offer := strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 8 0 101", "a=rtpmap:0", "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0",
			"a=sendrecv", "a=sendonly").Replace(p.sdp(1))
		r := ngDo(t, ng, ngproto.Dict{"command": "publish", "call-id": callID, "from-tag": "tp", "sdp": offer})
		o.answers = append(o.answers, normalizeOrigin(normalizePorts(r.Str("sdp"))))
		p.learn(t, r.Str("sdp"))
		r = ngDo(t, ng, ngproto.Dict{"command": "publish", "call-id": callID, "from-tag": "tp2", "sdp": offer,
			"codec": ngproto.Dict{"accept": []any{"opus", "PCMU"}}})
		o.answers = append(o.answers, normalizeOrigin(normalizePorts(r.Str("sdp"))))

		r = ngDo(t, ng, ngproto.Dict{"command": "subscribe request", "call-id": callID, "from-tag": "tp", "to-tag": "S"})
		o.subOffer = normalizePorts(r.Str("sdp"))
		s.learn(t, r.Str("sdp"))
		pcma := strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 8", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
			"a=rtpmap:101 telephone-event/8000\r\n", "", "a=fmtp:101 0-15\r\n", "").Replace(s.sdp(5))
		if r := ngDo(t, ng, ngproto.Dict{"command": "subscribe answer", "call-id": callID, "to-tag": "S", "sdp": pcma}); r.Str("result") != "ok" {
			t.Fatalf("subscribe answer: %v", r)
		}
		for i := range 3 {
			for _, pt := range []byte{8, 0} {
				pkt := make([]byte, 12, 172)
				pkt[0], pkt[1] = 0x80, pt
				binary.BigEndian.PutUint16(pkt[2:], uint16(10*i+int(pt)))
				binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
				pkt = append(pkt, bytes.Repeat([]byte{0xd5}, 160)...)
				if _, err := p.rtp.WriteToUDPAddrPort(pkt, p.to); err != nil {
					t.Fatal(err)
				}
			}
		}
		eachDatagram(s.rtp, 250e6, func(b []byte) {
			if len(b) >= 12 {
				o.got[fmt.Sprintf("PT %d", b[1]&0x7f)]++
			}
		})
		q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID, "from-tag": "tp"})
		if tags, ok := q["tags"].(ngproto.Dict); ok {
			if tp, ok := tags["tp"].(ngproto.Dict); ok {
				if ms, ok := tp["medias"].([]any); ok && len(ms) > 0 {
					o.pubFlags = fmt.Sprint(ms[0].(ngproto.Dict)["flags"])
				}
			}
		}
		for _, req := range []ngproto.Dict{
			{"command": "publish", "call-id": callID, "from-tag": "tp3"},
			{"command": "publish", "call-id": callID, "sdp": offer},
			{"command": "publish", "from-tag": "tp3", "sdp": offer},
			{"command": "publish", "call-id": callID, "from-tag": "tp3", "sdp": "garbage"},
			{"command": "subscribe request", "call-id": callID, "flags": []any{"all"}},
		} {
			r := ngTry(t, ng, req)
			o.errors = append(o.errors, r.Str("result")+" "+r.Str("error-reason"))
		}
		ngDo(t, ng, ngproto.Dict{"command": "delete", "call-id": callID})
		return o
	})
	for i := range m.answers {
		if m.answers[i] != re.answers[i] {
			t.Errorf("publish answer %d differs:\nmediad:\n%s\nrtpengine:\n%s", i, m.answers[i], re.answers[i])
		}
	}
	if !strings.Contains(m.answers[0], "RTP/AVP 8\r\n") || !strings.Contains(m.answers[1], "RTP/AVP 0\r\n") || !strings.Contains(m.answers[0], "a=recvonly") {
		t.Errorf("publish answers do not take PCMA (first) and PCMU (accepted):\n%s\n%s", m.answers[0], m.answers[1])
	}
	if m.subOffer != re.subOffer {
		t.Errorf("subscription offer differs:\nmediad:\n%s\nrtpengine:\n%s", m.subOffer, re.subOffer)
	}
	if fmt.Sprint(m.got) != fmt.Sprint(re.got) || m.got["PT 8"] != 3 {
		t.Errorf("the subscriber received mediad %v, rtpengine %v; want 3 PCMA packets", m.got, re.got)
	}
	if m.pubFlags != re.pubFlags {
		t.Errorf("publisher's media flags: mediad %s, rtpengine %s", m.pubFlags, re.pubFlags)
	}
	if fmt.Sprint(m.errors) != fmt.Sprint(re.errors) {
		t.Errorf("errors differ:\nmediad    %q\nrtpengine %q", m.errors, re.errors)
	}
	t.Logf("subscriber received %v; publisher flags %s; errors %q", m.got, m.pubFlags, m.errors)
}
