package webrtc_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// sdesBridge sets up mediad offering SDES to an SRTP phone that picks
// suite; it returns the bridge and the phone's keys (phone side view).
func sdesBridge(t *testing.T, suite string) (*bridge, srtp.ProtectionProfile, srtp.SessionKeys) {
	t.Helper()
	offer, err := sdes.Offer(sdes.Policy{Only: []string{suite}})
	if err != nil || len(offer) != 1 {
		t.Fatalf("offer: %v %v", offer, err)
	}
	// The phone answers: ours is the offered line, theirs its answer line.
	ours, theirs, err := sdes.Answer(offer, sdes.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBridge(t)
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ep.SetSDES(ours, theirs); err != nil {
		t.Fatal(err)
	}
	b.ep.Start(t.Context())
	b.run()
	profile, keys, err := sdes.SessionKeys(theirs, ours)
	if err != nil {
		t.Fatal(err)
	}
	return b, profile, keys
}

// TestSDESWithPionSRTP bridges a pion/srtp session (an SDES phone) to
// plain RTP for each suite mediad must support.
func TestSDESWithPionSRTP(t *testing.T) {
	checkGoroutines(t)
	for _, suite := range []string{"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"} {
		t.Run(suite, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			b, profile, keys := sdesBridge(t, suite)
			defer b.close()
			conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addrOf(b.sec)))
			if err != nil {
				t.Fatal(err)
			}
			sess, err := srtp.NewSessionSRTP(conn, &srtp.Config{Profile: profile, Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			// The plain side learns where the SRTP phone is by signalling.
			b.ep.SetPeer(conn.LocalAddr().(*net.UDPAddr).AddrPort())

			// SRTP phone -> plain RTP side.
			ws, err := sess.OpenWriteStream()
			if err != nil {
				t.Fatal(err)
			}
			want := []byte("sdes->plain " + suite)
			errc := make(chan error, 1)
			go func() { errc <- readRTP(ctx, b.phone, want) }()
			for i := uint16(1); ; i++ {
				if _, err := ws.WriteRTP(&rtp.Header{Version: 2, SequenceNumber: i, SSRC: 0xabc}, want); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-errc:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(20 * time.Millisecond):
					continue
				}
				break
			}

			// Plain RTP -> SRTP phone.
			back := []byte("plain->sdes " + suite)
			got := make(chan []byte, 16)
			rsc := make(chan *srtp.ReadStreamSRTP, 1)
			defer func() {
				select {
				case rs := <-rsc:
					rs.Close()
				default:
				}
			}()
			go func() {
				rs, ssrc, err := sess.AcceptStream()
				if err != nil {
					return
				}
				rsc <- rs
				if ssrc != 0x1234 {
					return
				}
				buf := make([]byte, 1500)
				for {
					n, err := rs.Read(buf)
					if err != nil {
						return
					}
					var p rtp.Packet
					if p.Unmarshal(buf[:n]) == nil {
						got <- append([]byte(nil), p.Payload...)
					}
				}
			}()
			for i := uint16(0); ; i++ {
				if _, err := b.phone.WriteToUDPAddrPort(rtpPacket(t, 10+i, 0x1234, back), addrOf(b.plain)); err != nil {
					t.Fatal(err)
				}
				select {
				case p := <-got:
					if !bytes.Equal(p, back) {
						t.Fatalf("payload %q", p)
					}
					return
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					t.Fatalf("plain->sdes: %v %+v", ctx.Err(), b.ep.Stats())
				}
			}
		})
	}
}
