package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"sipmedia/ngproto"
)

// TestUnknownPayloadType: RTP with a payload type the sender did not
// declare is relayed and counted as an error of its stream, as
// rtpengine counts it: the caller offers PCMU, PCMA and events, the
// callee answers with PCMU, G.722 and events, and the caller sends PCMU,
// PCMA, G.722, an event and payload type 72 (an RTCP type, on a socket
// without rtcp-mux): two errors (G.722 and 72), five packets relayed.
func TestUnknownPayloadType(t *testing.T) {
	m, r := compareOnBoth(t, nil, func(t *testing.T, name, ng string) string {
		callID := "upt-" + name
		a, b := newBlockParty(t, "ta", 0x1111), newBlockParty(t, "tb", 0x2222)
		asdp := strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 0 8 101",
			"a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000").Replace(a.sdp(1))
		bsdp := strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 0 9 101",
			"a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000").Replace(b.sdp(2))
		b.learn(t, ngDo(t, ng, offer(callID, a.tag, asdp, nil)).Str("sdp"))
		a.learn(t, ngDo(t, ng, answer(callID, a.tag, b.tag, bsdp, nil)).Str("sdp"))
		for _, pt := range []byte{0, 8, 9, 101, 72} {
			a.seq++
			pkt := make([]byte, 12+20)
			pkt[0], pkt[1] = 0x80, pt
			binary.BigEndian.PutUint16(pkt[2:], a.seq)
			binary.BigEndian.PutUint32(pkt[8:], a.ssrc)
			if _, err := a.rtp.WriteToUDPAddrPort(pkt, a.to); err != nil {
				t.Fatal(err)
			}
		}
		relayed := 0
		eachDatagram(b.rtp, 500*time.Millisecond, func([]byte) { relayed++ })
		q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID})
		ta, _ := q["tags"].(ngproto.Dict)["ta"].(ngproto.Dict)
		st := ta["medias"].([]any)[0].(ngproto.Dict)["streams"].([]any)[0].(ngproto.Dict)
		return fmt.Sprintf("relayed %d, caller's RTP stream %v, totals %v", relayed, st["stats"], q["totals"])
	})
	if m != r {
		t.Errorf("mediad:    %s\nrtpengine: %s", m, r)
	}
	if !strings.Contains(m, "relayed 5, caller's RTP stream map[bytes:160 errors:2 packets:5]") {
		t.Errorf("mediad: %s", m)
	}
}
