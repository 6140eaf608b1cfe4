package e2e

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"sipmedia/ngproto"
)

// srPacket is a sender report from ssrc with an NTP time.
func srPacket(ssrc, ntpSec, ntpFrac uint32) []byte {
	body := binary.BigEndian.AppendUint32(nil, ssrc)
	body = binary.BigEndian.AppendUint32(body, ntpSec)
	body = binary.BigEndian.AppendUint32(body, ntpFrac)
	return rtcpPkt(0, 200, append(body, make([]byte, 12)...))
}

// rrPacket is a receiver report from one SSRC about another.
func rrPacket(from, about uint32, fractionLost byte, lost, jitter, lsr, dlsr uint32) []byte {
	body := binary.BigEndian.AppendUint32(nil, from)
	body = binary.BigEndian.AppendUint32(body, about)
	body = append(body, fractionLost, byte(lost>>16), byte(lost>>8), byte(lost))
	for _, v := range []uint32{1000, jitter, lsr, dlsr} { // highest sequence number 1000
		body = binary.BigEndian.AppendUint32(body, v)
	}
	return rtcpPkt(1, 201, body)
}

// TestMOS runs three rounds of sender and receiver reports between two
// phones through rtpengine and mediad, each receiver report answering
// the other's sender report 300 ms later (a's 20 ms after b's) with a
// delay of 200 ms (a 100-120 ms leg), and compares the query's "SSRC" figures: which SSRCs,
// cumulative loss, jitter in ms, loss in percent, samples and
// progression entries exactly; round trips near what the test's timing
// makes them, the MOS that mos_calc gives for them within 0.1. With --mos=LQ the first
// report, which has one leg's round trip only, gets a MOS too.
func TestMOS(t *testing.T) {
	for _, mode := range []string{"CQ", "LQ"} {
		t.Run(mode, func(t *testing.T) {
			m, r := compareOnBoth(t, []string{"--mos=" + mode}, func(t *testing.T, name, ng string) ngproto.Dict {
				callID := "mos-" + name
				a, b := newBlockCall(t, ng, callID, nil)
				for range 3 {
					a.send(t)
					b.send(t)
				}
				middle := func(sec, frac uint32) uint32 { return sec<<16 | frac>>16 }
				send := func(p *blockParty, pkt []byte) {
					if _, err := p.rtcp.WriteToUDPAddrPort(pkt, p.toRTCP); err != nil {
						t.Fatal(err)
					}
				}
				for round := range 3 {
					ntpA, ntpB := uint32(1000+round), uint32(2000+round)
					send(a, srPacket(a.ssrc, ntpA, 0x80000000))
					send(b, srPacket(b.ssrc, ntpB, 0x40000000))
					time.Sleep(300 * time.Millisecond)
					// b: 10% lost (25/256), 3 in all, jitter 80 (10 ms at
					// 8 kHz); a: 4%, 1, jitter 160 (20 ms).
					send(b, rrPacket(b.ssrc, a.ssrc, 25, 3, 80, middle(ntpA, 0x80000000), 65536/5))
					// b's report first: the two sockets may be read by
					// different loops.
					time.Sleep(20 * time.Millisecond)
					send(a, rrPacket(a.ssrc, b.ssrc, 10, 1, 160, middle(ntpB, 0x40000000), 65536/5))
					for range 3 {
						a.send(t)
						b.send(t)
					}
					// rtpengine keeps one report a second per SSRC.
					time.Sleep(1500 * time.Millisecond)
				}
				q := ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": callID})
				ngDo(t, ng, del(callID, nil))
				ssrc, _ := q["SSRC"].(ngproto.Dict)
				return ssrc
			})
			if got, want := mosShape(m), mosShape(r); got != want {
				t.Errorf("SSRC figures differ:\nmediad:    %s\nrtpengine: %s", got, want)
			}
			for name, d := range map[string]ngproto.Dict{"mediad": m, "rtpengine": r} {
				if err := mosClose(d, mode); err != nil {
					t.Errorf("%s: %v\n%v", name, err, d)
				}
			}
		})
	}
}

// mosShape is what must match exactly: per SSRC the loss, jitter and
// packet loss figures, the samples and the number of progression
// entries.
func mosShape(d ngproto.Dict) string {
	var out []string
	for ssrc, v := range d {
		e, _ := v.(ngproto.Dict)
		avg, _ := e["average MOS"].(ngproto.Dict)
		prog, _ := e["MOS progression"].(ngproto.Dict)
		entries, _ := prog["entries"].([]any)
		var fig []string
		for _, x := range append([]any{avg, e["lowest MOS"], e["highest MOS"]}, entries...) {
			f, _ := x.(ngproto.Dict)
			fig = append(fig, fmt.Sprintf("j%v/l%v", f["jitter"], f["packet loss"]))
		}
		out = append(out, fmt.Sprintf("%s: loss %v samples %v entries %d %v", ssrc, e["cumulative loss"], avg["samples"], len(entries), fig))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// mosClose checks the timing-dependent figures against the test's
// reports: both SSRCs listed, each entry's leg near 100 ms, the round
// trip near 200 ms or none, the MOS that mos_calc gives for them.
func mosClose(d ngproto.Dict, mode string) error {
	if len(d) != 2 {
		return fmt.Errorf("%d SSRCs, want 2", len(d))
	}
	near := func(v any, want, tol int64) bool {
		n, _ := v.(int64)
		return n >= want-tol && n <= want+tol
	}
	for ssrc, v := range d {
		e, _ := v.(ngproto.Dict)
		prog, _ := e["MOS progression"].(ngproto.Dict)
		entries, _ := prog["entries"].([]any)
		for i, x := range entries {
			f, _ := x.(ngproto.Dict)
			if !near(f["round-trip time leg"], 110000, 50000) {
				return fmt.Errorf("SSRC %s entry %d: leg %v µs", ssrc, i, f["round-trip time leg"])
			}
			rtt, _ := f["round-trip time"].(int64)
			if rtt != 0 && !near(rtt, 220000, 70000) {
				return fmt.Errorf("SSRC %s entry %d: round trip %v µs", ssrc, i, rtt)
			}
			jitter, _ := f["jitter"].(int64)
			loss, _ := f["packet loss"].(int64)
			mos, _ := f["MOS"].(int64)
			if mode == "CQ" && rtt == 0 {
				continue // no MOS, as in rtpengine
			}
			// The MOS of the round trip reported, give or take the 0.1
			// that 40 ms of scheduling can move it.
			eff := rtt/1000 + jitter*2 + 10
			r := 93.2 - float64(eff)/40
			if eff >= 160 {
				r = 93.2 - float64(eff-120)/10
			}
			r -= float64(loss) * 2.5
			want := int64((1 + 0.035*r + 0.000007*r*(r-60)*(100-r)) * 10)
			if mos < want-1 || mos > want+1 {
				return fmt.Errorf("SSRC %s entry %d: MOS %d, want about %d", ssrc, i, mos, want)
			}
		}
	}
	return nil
}
