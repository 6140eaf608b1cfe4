package dtlssrtp

import (
	"context"
	"crypto/x509"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// pairUp runs a client and a server session against each other in memory.
func pairUp(t *testing.T) (client, server *Session) {
	t.Helper()
	certA, _ := NewCertificate()
	certB, _ := NewCertificate()
	fpA, _ := certA.Fingerprint("sha-256")
	fpB, _ := certB.Fingerprint("sha-256")
	ready := make(chan struct{})
	var err error
	server, err = Start(context.Background(), Config{Cert: certA, Role: RoleServer, Remote: fpB,
		Send: func(p []byte) error { <-ready; client.Feed(p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	client, err = Start(context.Background(), Config{Cert: certB, Role: RoleClient, Remote: fpA,
		Send: func(p []byte) error { <-ready; server.Feed(p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	for _, s := range []*Session{client, server} {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("handshake timed out")
		}
	}
	return client, server
}

func TestHandshakeKeysAgree(t *testing.T) {
	c, s := pairUp(t)
	defer c.Close()
	defer s.Close()
	ck, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := s.Result()
	if err != nil {
		t.Fatal(err)
	}
	if ck.Profile != sk.Profile || string(ck.LocalMasterKey) != string(sk.RemoteMasterKey) ||
		string(ck.RemoteMasterSalt) != string(sk.LocalMasterSalt) {
		t.Fatal("client and server keys do not mirror each other")
	}
}

// TestCloseWithoutPeerClose: after a handshake, Close must return even if
// the peer never closes (it used to hang in the read loop).
func TestCloseWithoutPeerClose(t *testing.T) {
	c, s := pairUp(t)
	defer c.Close()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
}

func TestFingerprintMismatchFails(t *testing.T) {
	certA, _ := NewCertificate()
	certB, _ := NewCertificate()
	other, _ := NewCertificate()
	fpA, _ := certA.Fingerprint("sha-256")
	wrong, _ := other.Fingerprint("sha-256")
	ready := make(chan struct{})
	var client, server *Session
	server, _ = Start(context.Background(), Config{Cert: certA, Role: RoleServer, Remote: wrong, HandshakeTimeout: 5 * time.Second,
		Send: func(p []byte) error { <-ready; client.Feed(p); return nil }})
	client, _ = Start(context.Background(), Config{Cert: certB, Role: RoleClient, Remote: fpA, HandshakeTimeout: 5 * time.Second,
		Send: func(p []byte) error { <-ready; server.Feed(p); return nil }})
	close(ready)
	defer client.Close()
	defer server.Close()
	select {
	case <-server.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
	if _, err := server.Result(); err == nil {
		t.Fatal("server accepted a certificate that does not match a=fingerprint")
	}
}

// TestCertOptionsHandshake: an RSA certificate signed with SHA-1 and a
// link MTU of 600 still handshake, and no datagram either side sends
// exceeds the MTU less the IPv4 and UDP headers (the certificate
// flight is fragmented).
func TestCertOptionsHandshake(t *testing.T) {
	opts := CertOptions{RSABits: 2048, SHA1: true, LinkMTU: 600}
	certA, err := NewCertificateWith(opts)
	if err != nil {
		t.Fatal(err)
	}
	certB, err := NewCertificateWith(opts)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(certA.TLS.Certificate[0])
	if err != nil || leaf.SignatureAlgorithm != x509.SHA1WithRSA || leaf.PublicKeyAlgorithm != x509.RSA {
		t.Fatalf("certificate %v %v: %v", leaf.SignatureAlgorithm, leaf.PublicKeyAlgorithm, err)
	}
	fpA, _ := certA.Fingerprint("sha-256")
	fpB, _ := certB.Fingerprint("sha-256")
	var largest atomic.Int64
	note := func(p []byte) {
		if n := int64(len(p)); n > largest.Load() {
			largest.Store(n)
		}
	}
	local := netip.MustParseAddrPort("127.0.0.1:30000")
	ready := make(chan struct{})
	var client, server *Session
	server, err = Start(context.Background(), Config{Cert: certA, Role: RoleServer, Remote: fpB, Local: local,
		Send: func(p []byte) error { <-ready; note(p); client.Feed(p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client, err = Start(context.Background(), Config{Cert: certB, Role: RoleClient, Remote: fpA, Local: local,
		Send: func(p []byte) error { <-ready; note(p); server.Feed(p); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	close(ready)
	for _, s := range []*Session{client, server} {
		select {
		case <-s.Done():
			if _, err := s.Result(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("handshake timed out")
		}
	}
	if n := largest.Load(); n > 600-28 || n < 400 {
		t.Errorf("largest datagram %d bytes, want at most 572 (and a fragmented flight near it)", n)
	}
}
