package e2e

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// dtmfLine is one line of rtpengine's --dtmf-log-dest.
type dtmfLine struct {
	CallID    string   `json:"callid"`
	SourceTag string   `json:"source_tag"`
	Tags      []string `json:"tags"`
	Type      string   `json:"type"`
	Timestamp int64    `json:"timestamp"`
	SourceIP  string   `json:"source_ip"`
	Event     int      `json:"event"`
	Duration  int      `json:"duration"`
	Volume    int      `json:"volume"`
}

// sendEvent sends one RFC 4733 event from p: three progress packets and
// three end packets, all with the event's timestamp.
func (p *blockParty) sendEvent(t *testing.T, pt byte, event, volume byte, ts uint32) {
	t.Helper()
	for i := range 6 {
		p.seq++
		pkt := make([]byte, 16)
		pkt[0], pkt[1] = 0x80, pt
		if i == 0 {
			pkt[1] |= 0x80 // marker on the first packet
		}
		binary.BigEndian.PutUint16(pkt[2:], p.seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], p.ssrc)
		pkt[12], pkt[13] = event, volume
		if i >= 3 {
			pkt[13] |= 0x80
		}
		binary.BigEndian.PutUint16(pkt[14:], uint16(160*(min(i, 3)+1)))
		if _, err := p.rtp.WriteToUDPAddrPort(pkt, p.to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDTMFLog compares rtpengine's --dtmf-log-dest with mediad's: one
// JSON line per event at its first end packet, from either party, with
// the call, the sender's tag and every tag, the source address, the
// event, its duration in milliseconds and its volume; a blocked event is
// still logged.
func TestDTMFLog(t *testing.T) {
	logs := udpSinks(t)
	extra := func(name string) []string { return []string{"--dtmf-log-dest=" + logs[name].LocalAddr().String()} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		lg := logs[name]
		callID := "dtmf-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		a.send(t)
		b.send(t)
		receivedBy(t, a, b)

		start := time.Now().Unix()
		a.sendEvent(t, 101, 5, 10, 160000)
		b.sendEvent(t, 101, 11, 20, 320000)
		ngDo(t, ng, dict("block DTMF", kv{"call-id": callID}))
		a.sendEvent(t, 101, 0, 3, 480000)
		var got []dtmfLine
		eachDatagram(lg, 500*time.Millisecond, func(b []byte) {
			var l dtmfLine
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatalf("log line %q: %v", b, err)
			}
			got = append(got, l)
		})
		want := []dtmfLine{
			{CallID: callID, SourceTag: "ta", Type: "DTMF", SourceIP: "127.0.0.1", Event: 5, Duration: 80, Volume: 10},
			{CallID: callID, SourceTag: "tb", Type: "DTMF", SourceIP: "127.0.0.1", Event: 11, Duration: 80, Volume: 20},
			{CallID: callID, SourceTag: "ta", Type: "DTMF", SourceIP: "127.0.0.1", Event: 0, Duration: 80, Volume: 3},
		}
		if len(got) != len(want) {
			t.Fatalf("logged %+v, want %d lines", got, len(want))
		}
		for i, l := range got {
			slices.Sort(l.Tags)
			if !slices.Equal(l.Tags, []string{"ta", "tb"}) || l.Timestamp < start || l.Timestamp > time.Now().Unix() {
				t.Errorf("line %d: tags %v, timestamp %d", i, l.Tags, l.Timestamp)
			}
			l.Tags, l.Timestamp = nil, 0
			if !reflect.DeepEqual(l, want[i]) {
				t.Errorf("line %d: %+v, want %+v", i, l, want[i])
			}
		}
		ngDo(t, ng, del(callID, nil))
	})
}
