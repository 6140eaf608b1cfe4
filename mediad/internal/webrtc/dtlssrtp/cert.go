package dtlssrtp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Certificate is the process-wide self-signed ECDSA P-256 certificate that
// every DTLS association presents (rtpengine does the same).
type Certificate struct {
	TLS tls.Certificate
	der []byte
}

// NewCertificate generates a fresh self-signed certificate valid for 30 days.
func NewCertificate() (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate DTLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("generate DTLS serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mediad"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create DTLS certificate: %w", err)
	}
	return &Certificate{TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der: der}, nil
}

// Fingerprint returns the certificate's fingerprint with the named hash
// ("sha-256" etc.), as written in a=fingerprint.
func (c *Certificate) Fingerprint(hash string) (Fingerprint, error) {
	return FingerprintOf(hash, c.der)
}
