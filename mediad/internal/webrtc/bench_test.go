package webrtc_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pion/srtp/v3"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// BenchmarkDTLSHandshake measures full DTLS-SRTP handshakes (ECDSA P-256,
// both sides verifying fingerprints) between two in-memory sessions.
func BenchmarkDTLSHandshake(b *testing.B) {
	certA, _ := dtlssrtp.NewCertificate()
	certB, _ := dtlssrtp.NewCertificate()
	fpA, _ := certA.Fingerprint("sha-256")
	fpB, _ := certB.Fingerprint("sha-256")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		var client, server *dtlssrtp.Session
		ready := make(chan struct{})
		toServer := func(p []byte) error { <-ready; server.Feed(p); return nil }
		toClient := func(p []byte) error { <-ready; client.Feed(p); return nil }
		var err error
		server, err = dtlssrtp.Start(ctx, dtlssrtp.Config{Cert: certA, Role: dtlssrtp.RoleServer, Remote: fpB, Send: toClient})
		if err != nil {
			b.Fatal(err)
		}
		client, err = dtlssrtp.Start(ctx, dtlssrtp.Config{Cert: certB, Role: dtlssrtp.RoleClient, Remote: fpA, Send: toServer})
		if err != nil {
			b.Fatal(err)
		}
		close(ready)
		<-client.Done()
		<-server.Done()
		if _, err := client.Result(); err != nil {
			b.Fatal(err)
		}
		client.Close()
		server.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

type nopWriter struct{}

func (nopWriter) WriteToUDPAddrPort(p []byte, _ netip.AddrPort) (int, error) { return len(p), nil }

func benchEndpoint(b *testing.B, suite string) (*webrtc.Endpoint, *srtp.Context) {
	offer, _ := sdes.Offer(sdes.Policy{Only: []string{suite}})
	ours, theirs, err := sdes.Answer(offer, sdes.Policy{})
	if err != nil {
		b.Fatal(err)
	}
	ep, err := webrtc.NewEndpoint(webrtc.Config{Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := ep.SetSDES(ours, theirs); err != nil {
		b.Fatal(err)
	}
	profile, keys, _ := sdes.SessionKeys(theirs, ours)
	peer, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile)
	if err != nil {
		b.Fatal(err)
	}
	return ep, peer
}

var benchSuites = []string{"AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"}

// BenchmarkSRTPToRTP is the per-packet cost of Inbound: authenticate,
// replay-check and decrypt a 20 ms PCMU packet (160 bytes payload).
func BenchmarkSRTPToRTP(b *testing.B) {
	for _, suite := range benchSuites {
		b.Run(suite, func(b *testing.B) {
			ep, peer := benchEndpoint(b, suite)
			const batch = 4096
			pkts := make([][]byte, batch)
			buf := make([]byte, 1500)
			from := netip.MustParseAddrPort("127.0.0.1:5000")
			seq := uint16(0)
			fill := func() {
				for i := range pkts {
					seq++
					pkts[i], _ = peer.EncryptRTP(pkts[i][:0], rtpPacket(b, seq, 1, make([]byte, 160)), nil)
				}
			}
			b.SetBytes(172)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
				n := copy(buf, pkts[i%batch])
				if _, ok := ep.Inbound(buf, n, from); !ok {
					b.Fatalf("dropped: %+v", ep.Stats())
				}
			}
		})
	}
}

// BenchmarkRTPToSRTP is the per-packet cost of Outbound.
func BenchmarkRTPToSRTP(b *testing.B) {
	for _, suite := range benchSuites {
		b.Run(suite, func(b *testing.B) {
			ep, _ := benchEndpoint(b, suite)
			plain := rtpPacket(b, 1, 1, make([]byte, 160))
			dst := make([]byte, 0, 1500)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				plain[2], plain[3] = byte(i>>8), byte(i)
				if _, err := ep.Outbound(dst, plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
