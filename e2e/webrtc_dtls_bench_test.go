package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// BenchmarkDTLSHandshakeDaemon measures complete DTLS-SRTP handshakes per
// second a media daemon serves: per iteration a WebRTC-style party
// (setup:active, no ICE) is bridged to a plain phone over NG, a pion/dtls
// client handshakes with the daemon's port, and the call is deleted. The
// numbers include the NG round trips, as a proxy would see them.
func BenchmarkDTLSHandshakeDaemon(b *testing.B) {
	for _, name := range []string{"rtpengine", "mediad"} {
		b.Run(name, func(b *testing.B) {
			_, opts := daemon.ByNameTB(b, name, daemon.Options{PortMin: 31000, PortMax: 31999})
			benchDTLS(b, opts.NG)
		})
	}
}

func benchDTLS(b *testing.B, ngAddr string) {
	ctx := context.Background()
	ng, err := ngproto.Dial(ngAddr, ngproto.ClientConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer ng.Close()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	hexs := make([]string, len(sum))
	for i, c := range sum {
		hexs[i] = fmt.Sprintf("%02X", c)
	}
	fp := "sha-256 " + strings.Join(hexs, ":")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := oneHandshake(ctx, ng, fmt.Sprintf("dtls-bench-%d", i), cert, fp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

func oneHandshake(ctx context.Context, ng *ngproto.Client, callID string, cert tls.Certificate, fp string) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = handshakeOn(ctx, ng, callID, cert, fp, conn)
	return err
}

// handshakeOn bridges a WebRTC-style party on conn (setup:active, no
// ICE) to a plain phone, handshakes with the daemon's port as DTLS
// client and deletes the call; it returns the handshake's state.
func handshakeOn(ctx context.Context, ng *ngproto.Client, callID string, cert tls.Certificate, fp string, conn net.PacketConn) (dtls.State, error) {
	port := conn.LocalAddr().(*net.UDPAddr).Port
	browser := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"+
		"m=audio %d UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"+
		"a=rtcp-mux\r\na=setup:active\r\na=fingerprint:%s\r\n", port, fp)
	r, err := ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": callID, "from-tag": "b", "sdp": browser,
		"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": []any{"demux"}})
	if err != nil {
		return dtls.State{}, err
	}
	if _, err := replySDP(r); err != nil {
		return dtls.State{}, err
	}
	phone := "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
	r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": callID, "from-tag": "b", "to-tag": "p", "sdp": phone,
		"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "remove", "rtcp-mux": []any{"require"}})
	if err != nil {
		return dtls.State{}, err
	}
	toBrowser, err := replySDP(r)
	if err != nil {
		return dtls.State{}, err
	}
	media, err := mediaAddr(toBrowser)
	if err != nil {
		return dtls.State{}, err
	}
	dc, err := dtls.ClientWithOptions(conn, net.UDPAddrFromAddrPort(media),
		dtls.WithCertificates(cert),
		dtls.WithInsecureSkipVerify(true),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequestExtendedMasterSecret))
	if err != nil {
		return dtls.State{}, err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = dc.HandshakeContext(hctx)
	cancel()
	st, _ := dc.ConnectionState()
	_ = dc.Close()
	if err != nil {
		return dtls.State{}, fmt.Errorf("handshake with %v: %w", media, err)
	}
	_, err = ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": callID})
	return st, err
}
