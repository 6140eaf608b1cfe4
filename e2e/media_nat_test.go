package e2e

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// pierceRTP is the dummy packet rtpengine sends for "pierce NAT".
var pierceRTP = []byte{0x80, 0x7f, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}

// TestMediaNATFlags compares rtpengine's "pierce NAT" and "NAT-wait"
// offer flags with mediad's, with immediate endpoint learning: the
// offerer gets dummy RTP on both its ports from the moment of the offer
// until it sends, and gets no media before it has sent.
func TestMediaNATFlags(t *testing.T) {
	onBothDaemons(t, []string{"--endpoint-learning=immediate"}, func(t *testing.T, name, ng string) {
		callID := "nat-" + name
		a, b := newBlockCall(t, ng, callID, kv{"flags": []string{"pierce NAT", "NAT-wait"}})

		// A is silent: dummy packets arrive on both of its ports, again
		// and again (once a second from either daemon; up to 6 s allowed,
		// since under the race detector rtpengine's timer ran late).
		deadline := time.Now().Add(6 * time.Second)
		got := map[string]int{}
		buf := make([]byte, 2048)
		for time.Now().Before(deadline) && (got["rtp"] < 2 || got["rtcp"] < 2) {
			for _, c := range []struct {
				name string
				conn *net.UDPConn
			}{{"rtp", a.rtp}, {"rtcp", a.rtcp}} {
				_ = c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if n, err := c.conn.Read(buf); err == nil {
					if !bytes.Equal(buf[:n], pierceRTP) {
						t.Errorf("%s: unexpected packet %x", c.name, buf[:n])
					}
					got[c.name]++
				}
			}
		}
		if got["rtp"] < 2 || got["rtcp"] < 2 {
			t.Errorf("in 6 s A got %v dummy packets, want at least 2 on each port", got)
		}
		// NAT-wait: B's media does not reach the silent A.
		b.send(t)
		if got := a.received(t); len(got) > 1 || len(got) == 1 && got["pierce"] == 0 {
			t.Errorf("before A sent anything it received %v (dummies aside)", got)
		}
		// A speaks: from then on no dummy packets, and B's media
		// reaches it.
		a.send(t)
		if got := b.received(t); got[blkVoice] != 1 || got[blkRTCP] != 1 {
			t.Errorf("B received %v of A's media", got)
		}
		time.Sleep(1500 * time.Millisecond)
		a.received(t) // dummies in flight before A was heard
		time.Sleep(1200 * time.Millisecond)
		if got := a.received(t); len(got) != 0 {
			t.Errorf("after A sent, it still received %v", got)
		}
		b.send(t)
		if got := a.received(t); got[blkVoice] != 1 || got[blkDTMF] != 1 || got[blkRTCP] != 1 {
			t.Errorf("after A sent, it received %v of B's media", got)
		}
		ngDo(t, ng, del(callID, nil))
	})
}
