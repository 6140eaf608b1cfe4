package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pion/dtls/v3/pkg/crypto/selfsign"

	"sipmedia/ngproto"
)

// largestRead is a PacketConn that remembers the largest datagram read.
type largestRead struct {
	net.PacketConn
	max atomic.Int64
}

func (c *largestRead) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if int64(n) > c.max.Load() {
		c.max.Store(int64(n))
	}
	return n, a, err
}

// TestDTLSCertOptions handshakes with rtpengine and mediad as a
// browser's DTLS client would, with their default certificate and with
// --dtls-cert-cipher=RSA, --dtls-rsa-key-size, --dtls-signature=sha-1 and
// --dtls-mtu: the certificate's key type and size and signature
// algorithm must be as the options say, on both, and no datagram of
// mediad's may be larger than the MTU less the IPv4 and UDP headers
// (OpenSSL's link MTU).
func TestDTLSCertOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		key   string
		sig   x509.SignatureAlgorithm
		// maxSize bounds the daemon's datagrams: mediad's always,
		// rtpengine's where peerMTU says (with an RSA certificate,
		// rtpengine 10.5 on Debian sends its first flight in one
		// 1449-byte datagram whatever --dtls-mtu says).
		maxSize int
		peerMTU bool
		// mediadOnly: rtpengine 10.5 does not finish the handshake with
		// an RSA key of other than 2048 bits.
		mediadOnly bool
	}{
		{name: "default", key: "ECDSA P-256", sig: x509.ECDSAWithSHA256, maxSize: 1200 - 28, peerMTU: true},
		{name: "RSA SHA-1", extra: []string{"--dtls-cert-cipher=RSA", "--dtls-signature=sha-1"},
			key: "RSA 2048", sig: x509.SHA1WithRSA, maxSize: 1200 - 28},
		{name: "ECDSA SHA-1", extra: []string{"--dtls-signature=SHA1"}, key: "ECDSA P-256", sig: x509.ECDSAWithSHA1, maxSize: 1200 - 28, peerMTU: true},
		{name: "RSA 1536 MTU 600", extra: []string{"--dtls-cert-cipher=rsa", "--dtls-rsa-key-size=1536", "--dtls-mtu=600"},
			key: "RSA 1536", sig: x509.SHA256WithRSA, maxSize: 600 - 28, mediadOnly: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onBothDaemons(t, tc.extra, func(t *testing.T, name, ngAddr string) {
				if tc.mediadOnly && name == "rtpengine" {
					t.Skip("rtpengine 10.5 does not finish this handshake")
				}
				var conn *largestRead
				c := handshakeCert(t, ngAddr, "dtls-opts-"+name, func(pc net.PacketConn) net.PacketConn {
					conn = &largestRead{PacketConn: pc}
					return conn
				})
				key := c.PublicKeyAlgorithm.String()
				switch k := c.PublicKey.(type) {
				case *rsa.PublicKey:
					key += fmt.Sprintf(" %d", k.N.BitLen())
				case *ecdsa.PublicKey:
					key += " " + k.Curve.Params().Name
				}
				if key != tc.key || c.SignatureAlgorithm != tc.sig {
					t.Errorf("certificate: %s signed %v, want %s signed %v", key, c.SignatureAlgorithm, tc.key, tc.sig)
				}
				if m := conn.max.Load(); (name == "mediad" || tc.peerMTU) && m > int64(tc.maxSize) || m == 0 {
					t.Errorf("largest DTLS datagram %d bytes, want at most %d", m, tc.maxSize)
				} else {
					t.Logf("%s: largest DTLS datagram %d bytes", name, m)
				}
			})
		})
	}
}

// TestSoftwareID: with --software-id, the publish answer's s= line (an
// SDP of the daemon's own making) and the DTLS certificate's CN carry
// the name, its characters outside letters, digits and '-' replaced, on
// rtpengine and mediad alike.
func TestSoftwareID(t *testing.T) {
	onBothDaemons(t, []string{"--software-id=edge 7/b"}, func(t *testing.T, name, ngAddr string) {
		p := newBlockParty(t, "tp", 0x4444)
		r := ngDo(t, ngAddr, ngproto.Dict{"command": "publish", "call-id": "swid-" + name, "from-tag": "tp", "sdp": p.sdp(1)})
		if s := r.Str("sdp"); !strings.Contains(s, "\r\ns=edge-7-b\r\n") {
			t.Errorf("publish answer without s=edge-7-b:\n%s", s)
		}
		c := handshakeCert(t, ngAddr, "swid-dtls-"+name, nil)
		if c.Subject.CommonName != "edge-7-b" {
			t.Errorf("certificate subject %q, want CN edge-7-b", c.Subject)
		}
	})
}

// handshakeCert handshakes with the daemon at ngAddr as a browser's DTLS
// client (handshakeOn) over a fresh loopback socket, wrapped by wrap if
// set, and returns the daemon's certificate.
func handshakeCert(t *testing.T, ngAddr, callID string, wrap func(net.PacketConn) net.PacketConn) *x509.Certificate {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	fp := "sha-256 " + strings.ToUpper(strings.Join(strings.Split(fmt.Sprintf("% x", sum[:]), " "), ":"))
	ng, err := ngproto.Dial(ngAddr, ngproto.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var conn net.PacketConn = udp
	if wrap != nil {
		conn = wrap(udp)
	}
	st, err := handshakeOn(context.Background(), ng, callID, cert, fp, conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PeerCertificates) == 0 {
		t.Fatal("no certificate from the daemon")
	}
	c, err := x509.ParseCertificate(st.PeerCertificates[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
