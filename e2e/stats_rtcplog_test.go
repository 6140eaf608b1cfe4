package e2e

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
)

// rtcpPkt builds an RTCP packet: header with count and type, the body
// padded to 32-bit words.
func rtcpPkt(count, pt byte, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	p := []byte{0x80 | count, pt, 0, 0}
	binary.BigEndian.PutUint16(p[2:], uint16(len(body)/4))
	return append(p, body...)
}

// seqBytes returns n bytes counting up from first.
func seqBytes(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// xrBlock builds an XR report block of type bt with a body of n bytes.
func xrBlock(bt byte, n int) []byte {
	b := []byte{bt, 0x5a, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(n/4))
	return append(b, seqBytes(bt*16, n)...)
}

// TestRTCPLog runs rtpengine and mediad with --log-facility-rtcp and
// compares the lines they log for the RTCP a party sends: sender and
// receiver reports with blocks, SDES, BYE (no line), XR with each block
// type rtpengine reads (with its byte-order quirks), blocks it skips, a
// compound packet, and packets it stops parsing part way, which neither
// relays.
func TestRTCPLog(t *testing.T) {
	ssrc := []byte{0, 0, 0x11, 0x11}
	block := seqBytes(0x21, 24)
	sr := rtcpPkt(1, 200, append(append(append([]byte{}, ssrc...), seqBytes(1, 20)...), block...))
	rr := rtcpPkt(2, 201, append(append(append([]byte{}, ssrc...), block...), seqBytes(0x41, 24)...))
	sdes := rtcpPkt(1, 202, append(append([]byte{}, ssrc...), 1, 4, 'a', 'b', 'c', 'd', 0))
	bye := rtcpPkt(1, 203, ssrc)
	var xrBody []byte
	xrBody = append(xrBody, ssrc...)
	for _, b := range [][]byte{xrBlock(4, 8), xrBlock(5, 12), xrBlock(6, 36), xrBlock(7, 32), xrBlock(9, 4), xrBlock(6, 4)} {
		xrBody = append(xrBody, b...)
	}
	xr := rtcpPkt(0, 207, xrBody)
	badVersion := append([]byte{0x40}, sr[1:]...)
	packets := []struct {
		name string
		pkt  []byte
	}{
		{"SR", sr}, {"RR", rr}, {"SDES", sdes}, {"BYE", bye}, {"XR", xr},
		{"SR+SDES+XR", slices.Concat(sr, sdes, xr)},
		{"RR then a bad version", slices.Concat(rr, badVersion)},
		{"RR counting blocks it lacks", rtcpPkt(3, 201, append(append([]byte{}, ssrc...), block...))},
		{"BYE then SR", slices.Concat(bye, sr)},
	}
	var logs = map[string]<-chan syslogLine{}
	var mu = make(chan struct{}, 1)
	setup := func(t *testing.T, name string, o *daemon.Options) {
		path, lines := devLog(t)
		mu <- struct{}{}
		logs[name] = lines
		<-mu
		o.DevLog = path
		o.Extra = []string{"--log-facility-rtcp=local4"}
	}
	out := map[string][]string{}
	t.Run("daemons", func(t *testing.T) {
		onBothDaemonsOpts(t, setup, func(t *testing.T, name string, o daemon.Options) {
			mu <- struct{}{}
			lines := logs[name]
			<-mu
			callID := "rtcplog-" + name
			a, b := newBlockCall(t, o.NG, callID, nil)
			var got []string
			for _, p := range packets {
				if _, err := a.rtcp.WriteToUDPAddrPort(p.pkt, a.toRTCP); err != nil {
					t.Fatal(err)
				}
			}
			// What the parser fails on is not relayed (rtpengine's
			// userspace drops it).
			relayed := 0
			eachDatagram(b.rtcp, 500*time.Millisecond, func([]byte) { relayed++ })
			if want := len(packets) - 2; relayed != want {
				t.Errorf("%d RTCP packets relayed, want %d", relayed, want)
			}
			quiet := time.NewTimer(2 * time.Second)
		collect:
			for {
				select {
				case l := <-lines:
					quiet.Reset(2 * time.Second)
					if l.pri != 20*8+6 {
						t.Errorf("RTCP line at priority %d: %q", l.pri, l.text)
					}
					got = append(got, strings.Replace(l.text, "["+callID+"] ", "[CALL] ", 1))
				case <-quiet.C:
					break collect
				}
			}
			ngDo(t, o.NG, del(callID, nil))
			mu <- struct{}{}
			out[name] = got
			<-mu
		})
	})
	// rtpengine's threads may log a socket's packets out of order: the
	// lines are compared as sets.
	m, r := slices.Sorted(slices.Values(out["mediad"])), slices.Sorted(slices.Values(out["rtpengine"]))
	if len(r) == 0 || !slices.Equal(m, r) {
		t.Errorf("RTCP log lines differ:\nmediad:\n  %s\nrtpengine:\n  %s", strings.Join(m, "\n  "), strings.Join(r, "\n  "))
	}
	// The test's own expectation of one line, so that the comparison
	// cannot pass with both daemons wrong the same way.
	want := "[CALL] version=2, padding=0, count=1, payloadtype=200, length=12, ssrc=4369, ntp_sec=16909060, " +
		"ntp_fractions=84281096, rtp_ts=151653132, sender_packets=219025168, sender_bytes=286397204, " +
		"ssrc=555885348, fraction_lost=37, packet_loss=2500392, last_seq=690629420, jitter=758001456, " +
		"last_sr=825373492, delay_since_last_sr=892745528"
	if !slices.Contains(m, want) {
		t.Errorf("no SR line %q in %q", want, m)
	}
}
