package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"
)

// hepPacket is a decoded HEP3 packet: chunk payloads by type.
type hepPacket map[uint16][]byte

func parseHEP(b []byte) (hepPacket, error) {
	if len(b) < 6 || string(b[:4]) != "HEP3" || int(binary.BigEndian.Uint16(b[4:6])) != len(b) {
		return nil, fmt.Errorf("not a HEP3 packet: %x", b)
	}
	p := hepPacket{}
	for c := b[6:]; len(c) > 0; {
		if len(c) < 6 {
			return nil, fmt.Errorf("short chunk %x", c)
		}
		n := int(binary.BigEndian.Uint16(c[4:6]))
		if n < 6 || n > len(c) || binary.BigEndian.Uint16(c[0:2]) != 0 {
			return nil, fmt.Errorf("bad chunk %x", c)
		}
		p[binary.BigEndian.Uint16(c[2:4])] = c[6:n]
		c = c[n:]
	}
	return p, nil
}

// homerRTCP are RTCP datagrams each party sends, with the JSON rtpengine
// 10.5 sends Homer for them ("" = no report). ssrc stands for the
// party's SSRC.
var homerRTCP = []struct {
	name string
	pkt  func(ssrc uint32) []byte
	json string
}{
	{"SR with a report block", func(ssrc uint32) []byte {
		b := []byte{0x81, 200, 0, 12}
		b = binary.BigEndian.AppendUint32(b, ssrc)
		for _, v := range []uint32{3900000000, 2147483648, 160000, 1000, 160000} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		b = binary.BigEndian.AppendUint32(b, 0x12345678)
		b = append(b, 25, 0, 1, 2) // fraction lost, cumulative lost 258
		for _, v := range []uint32{70000, 33, 0x11112222, 65536} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return b
	}, `{ "sender_information":{"ntp_timestamp_sec":3900000000,"ntp_timestamp_usec":2147483648,"octets":160000,"rtp_timestamp":160000, "packets":1000},"ssrc":SSRC,"type":200,"report_count":1,"report_blocks":[{"source_ssrc":305419896,"highest_seq_no":70000,"fraction_lost":25,"ia_jitter":33,"packets_lost":258,"lsr":286335522,"dlsr":65536}] }`},
	{"RR and SDES", func(ssrc uint32) []byte {
		b := []byte{0x80, 201, 0, 1}
		b = binary.BigEndian.AppendUint32(b, ssrc)
		sdes := binary.BigEndian.AppendUint32(nil, ssrc)
		sdes = append(sdes, 1, 12)
		sdes = append(sdes, "a\"b\\c\td@e2e\xff"...)
		sdes = append(sdes, 7, 2, 'h', 'i', 0)
		for len(sdes)%4 != 0 {
			sdes = append(sdes, 0)
		}
		b = append(b, 0x81, 202, 0, byte(len(sdes)/4))
		return append(b, sdes...)
	}, `{ "ssrc":SSRC,"type":201,"report_count":0,"report_blocks":[],"sdes_report_count":1,"sdes_information": [ {"sdes_chunk_ssrc":SSRC,"type":1,"text":"a\"b\\c\td@e2e_"},{"sdes_chunk_ssrc":SSRC,"type":7,"text":"hi"}] }`},
	{"BYE alone", func(ssrc uint32) []byte {
		return binary.BigEndian.AppendUint32([]byte{0x81, 203, 0, 1}, ssrc)
	}, ""},
}

// TestHomer: --homer on rtpengine 10.5 and mediad, each sending to a UDP
// listener of the test's: for each RTCP datagram either party sends in a
// call (a sender report with a report block; a receiver report with SDES
// items that need escaping; a lone BYE), the HEP3 packets must carry the
// same JSON, byte for byte, the call-ID, the capture ID, the party's
// address and the daemon's port it sent to.
func TestHomer(t *testing.T) {
	lns := udpSinks(t)
	extra := func(name string) []string {
		return []string{"--homer=" + lns[name].LocalAddr().String(), "--homer-id=77"}
	}
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		callID := "homer-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		var want []string
		for _, p := range []*blockParty{a, b} {
			for _, tc := range homerRTCP {
				if _, err := p.rtcp.WriteToUDPAddrPort(tc.pkt(p.ssrc), p.toRTCP); err != nil {
					t.Fatal(err)
				}
				if tc.json != "" {
					src := p.rtcp.LocalAddr().(*net.UDPAddr).AddrPort()
					want = append(want, fmt.Sprintf("%v>%v %s", src, p.toRTCP, strings.ReplaceAll(tc.json, "SSRC", fmt.Sprint(p.ssrc))))
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		var got []string
		buf := make([]byte, 65536)
		start := time.Now()
		for len(got) < len(want)+1 {
			_ = lns[name].SetReadDeadline(time.Now().Add(time.Second))
			n, err := lns[name].Read(buf)
			if err != nil {
				break // the extra read ends on the deadline: nothing more came
			}
			h, err := parseHEP(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Unix(int64(binary.BigEndian.Uint32(h[9])), int64(binary.BigEndian.Uint32(h[10]))*1000)
			if !bytes.Equal(h[1], []byte{2}) || !bytes.Equal(h[2], []byte{17}) || !bytes.Equal(h[11], []byte{5}) ||
				binary.BigEndian.Uint32(h[12]) != 77 || string(h[17]) != callID || ts.Before(start.Add(-2*time.Second)) || ts.After(time.Now()) {
				t.Errorf("HEP header chunks %v (time %v)", h, ts)
			}
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[3])), binary.BigEndian.Uint16(h[7]))
			dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[4])), binary.BigEndian.Uint16(h[8]))
			got = append(got, fmt.Sprintf("%v>%v %s", src, dst, h[15]))
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("reports:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		receivedBy(t, a, b) // the RTCP was relayed as well
	})
}
