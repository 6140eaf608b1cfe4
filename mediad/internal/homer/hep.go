// Package homer sends RTCP reports to a Homer (sipcapture) server as
// rtpengine 10.5 does with --homer: each RTCP packet a party sends,
// rendered as rtpengine's JSON (rtcp.go), in a HEP version 3 packet
// (protocol type 5, "RTCP JSON") whose correlation ID is the call-ID, over
// UDP or TCP (sender.go).
package homer

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// protoRTCPJSON is HEP's protocol type of rtpengine's reports.
const protoRTCPJSON = 5

// HEP3 builds the packet rtpengine's send_hepv3 builds, chunk for chunk:
// family, protocol (UDP), ports, time, type, capture ID, addresses,
// correlation ID, payload.
func HEP3(captureID uint32, callID string, src, dst netip.AddrPort, t time.Time, payload []byte) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	family, ipType, ipLen := byte(2), uint16(3), 4 // AF_INET
	if !sa.Is4() || !da.Is4() {
		family, ipType, ipLen = 10, 5, 16 // AF_INET6
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	b := make([]byte, 6, 80+len(callID)+len(payload))
	copy(b, "HEP3")
	chunk := func(typ uint16, data []byte) {
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(data)))
		b = append(b, data...)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	chunk(1, []byte{family})
	chunk(2, []byte{17}) // IPPROTO_UDP
	chunk(7, u16(src.Port()))
	chunk(8, u16(dst.Port()))
	chunk(9, u32(uint32(t.Unix())))
	chunk(10, u32(uint32(t.Nanosecond()/1000)))
	chunk(11, []byte{protoRTCPJSON})
	chunk(12, u32(captureID))
	chunk(ipType, sa.AsSlice()[:ipLen])
	chunk(ipType+1, da.AsSlice()[:ipLen])
	chunk(17, []byte(callID))
	chunk(15, payload)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	return b
}
