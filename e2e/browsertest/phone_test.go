package browsertest

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"sipmedia/ngproto/testport"
)

// TestPhone: the phone sends PCMU to the address it is given and counts
// only PCMU packets with payload that come back.
func TestPhone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, peer := testport.UDP(t), testport.UDP(t)
	to := make(chan netip.AddrPort, 1)
	to <- peer.LocalAddr().(*net.UDPAddr).AddrPort()
	p := StartPhone(ctx, conn, to)

	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("nothing from the phone: %v", err)
	}
	var got rtp.Packet
	if err := got.Unmarshal(buf[:n]); err != nil || got.PayloadType != 0 || len(got.Payload) != 160 {
		t.Fatalf("phone sent %d bytes, PT %d, payload %d: %v; want PCMU with 160 bytes", n, got.PayloadType, len(got.Payload), err)
	}
	for i, pt := range []uint8{8, 0, 0} { // PCMA is not counted
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i)}, Payload: []byte{1, 2}}).Marshal()
		if _, err := peer.WriteToUDPAddrPort(b, from); err != nil {
			t.Fatal(err)
		}
	}
	for p.Received() < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Received() != 2 {
		t.Fatalf("received %d, want 2", p.Received())
	}
}
