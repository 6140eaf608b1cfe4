package browsertest

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Phone is the plain RTP end of a browser call: it sends a quiet PCMU
// ramp every 20 ms and counts the PCMU packets it receives.
type Phone struct {
	received atomic.Int64
}

// StartPhone runs a phone on conn: it sends to the first address from to
// until ctx ends, and counts what arrives until conn is closed (the
// caller's to close).
func StartPhone(ctx context.Context, conn *net.UDPConn, to <-chan netip.AddrPort) *Phone {
	p := &Phone{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) == nil && pkt.PayloadType == 0 && len(pkt.Payload) > 0 {
				p.received.Add(1)
			}
		}
	}()
	go func() {
		var dst netip.AddrPort
		select {
		case dst = <-to:
		case <-ctx.Done():
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 160)
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i := range payload {
				payload[i] = byte(0xff - (int(seq)+i)%32)
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5eed}, Payload: payload}
			b, _ := pkt.Marshal()
			_, _ = conn.WriteToUDPAddrPort(b, dst)
		}
	}()
	return p
}

// Received is how many PCMU packets with payload the phone has received.
func (p *Phone) Received() int { return int(p.received.Load()) }
