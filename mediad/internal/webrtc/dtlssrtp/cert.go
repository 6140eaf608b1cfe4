package dtlssrtp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/netip"
	"time"
)

// Certificate is the process-wide self-signed certificate that every
// DTLS association presents (rtpengine does the same), with the
// association settings that go with it.
type Certificate struct {
	TLS tls.Certificate
	der []byte
	// linkMTU is the largest datagram with its IP and UDP headers (0:
	// pion's default).
	linkMTU int
}

// CertOptions are rtpengine's DTLS options.
type CertOptions struct {
	// RSABits: an RSA key of this size (--dtls-cert-cipher=RSA,
	// --dtls-rsa-key-size); 0: ECDSA prime256v1.
	RSABits int
	// SHA1: sign with SHA-1 (--dtls-signature=sha-1), else SHA-256.
	SHA1 bool
	// LinkMTU is --dtls-mtu: as OpenSSL's link MTU, the IP and UDP
	// headers count (0: pion's default).
	LinkMTU int
	// CommonName is the certificate's subject CN ("" = "mediad";
	// rtpengine's --software-id).
	CommonName string
}

// NewCertificate generates a fresh self-signed ECDSA certificate valid for
// 30 days, signed with SHA-256.
func NewCertificate() (*Certificate, error) { return NewCertificateWith(CertOptions{}) }

// NewCertificateWith generates a fresh self-signed certificate valid for
// 30 days as o says.
func NewCertificateWith(o CertOptions) (*Certificate, error) {
	var key crypto.Signer
	var err error
	alg := x509.ECDSAWithSHA256
	if o.RSABits > 0 {
		key, err = rsa.GenerateKey(rand.Reader, o.RSABits)
		alg = x509.SHA256WithRSA
		if o.SHA1 {
			alg = x509.SHA1WithRSA
		}
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if o.SHA1 {
			alg = x509.ECDSAWithSHA1
		}
	}
	if err != nil {
		return nil, fmt.Errorf("generate DTLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("generate DTLS serial: %w", err)
	}
	now := time.Now()
	cn := o.CommonName
	if cn == "" {
		cn = "mediad"
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: cn},
		NotBefore:          now.Add(-24 * time.Hour),
		NotAfter:           now.Add(30 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create DTLS certificate: %w", err)
	}
	return &Certificate{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der: der, linkMTU: o.LinkMTU}, nil
}

// mtu is pion's MTU for an association from local, so that no datagram
// exceeds the link MTU: less the IP and UDP headers (OpenSSL's
// DTLS_set_link_mtu) and the record and handshake headers (pion's MTU
// bounds a handshake fragment's body); 0 for pion's default.
func (c *Certificate) mtu(local netip.AddrPort) int {
	if c.linkMTU <= 0 {
		return 0
	}
	const dtlsHeaders = 13 + 12
	if local.Addr().Is4() || local.Addr().Is4In6() {
		return c.linkMTU - 28 - dtlsHeaders
	}
	return c.linkMTU - 48 - dtlsHeaders
}

// Fingerprint returns the certificate's fingerprint with the named hash
// ("sha-256" etc.), as written in a=fingerprint.
func (c *Certificate) Fingerprint(hash string) (Fingerprint, error) {
	return FingerprintOf(hash, c.der)
}
