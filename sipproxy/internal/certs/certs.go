// Package certs loads the TLS certificate for the tls and wss listeners, or
// generates a self-signed one when none is configured.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// Source is the certificate of the tls and wss listeners (and of the
// demo page): read from PEM files, and read again by Reload so that a
// renewed certificate is served without a restart, or generated
// self-signed when no files are configured.
type Source struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the PEM files, or makes a self-signed certificate for hosts
// when both paths are empty.
func Load(certFile, keyFile string, hosts []string) (*Source, error) {
	s := &Source{certFile: certFile, keyFile: keyFile}
	if certFile != "" {
		if _, err := s.Reload(); err != nil {
			return nil, err
		}
		return s, nil
	}
	cert, err := SelfSigned(hosts)
	if err != nil {
		return nil, err
	}
	s.cur.Store(&cert)
	return s, nil
}

// Config returns a server TLS config that presents the current
// certificate at each handshake.
func (s *Source) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load(), nil }}
}

// Reload reads the files again; on error the current certificate stays.
// It reports the new certificate's expiry, or zero for a self-signed one
// (nothing to read).
func (s *Source) Reload() (time.Time, error) {
	if s.certFile == "" {
		return time.Time{}, nil
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return time.Time{}, fmt.Errorf("load certificate: %w", err)
	}
	s.cur.Store(&cert)
	if cert.Leaf == nil {
		return time.Time{}, nil
	}
	return cert.Leaf.NotAfter, nil
}

// SelfSigned creates an ECDSA P-256 certificate valid for hosts (IPs or names)
// for one year.
func SelfSigned(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sipproxy self-signed"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range append(hosts, "localhost") {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
