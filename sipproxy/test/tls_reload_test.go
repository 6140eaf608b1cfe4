package test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"sipmedia/sipproxy/internal/certs"
)

// writeCert writes a fresh self-signed certificate and its key as PEM
// files and returns the certificate's DER.
func writeCert(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	c, err := certs.SelfSigned([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

// served is the certificate a new TLS connection to port gets.
func served(t *testing.T, port int) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

// TestTLSReload: SIGHUP makes sipproxy read --tls-certificate and
// --tls-private-key again (a renewed certificate without a restart): new
// TLS and WSS connections get the new certificate; a broken file leaves
// the current one served.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile)
	p := startProxy(t, "--tls-certificate="+certFile, "--tls-private-key="+keyFile)
	for _, port := range []int{p.TLS, p.WSS} {
		if !bytes.Equal(served(t, port), first) {
			t.Fatalf("port %d does not serve the configured certificate", port)
		}
	}
	renewed := writeCert(t, certFile, keyFile)
	p.hangup(t, "TLS certificate reloaded")
	for _, port := range []int{p.TLS, p.WSS} {
		if !bytes.Equal(served(t, port), renewed) {
			t.Fatalf("port %d does not serve the renewed certificate after SIGHUP", port)
		}
	}
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.hangup(t, "TLS certificate not reloaded")
	if !bytes.Equal(served(t, p.TLS), renewed) {
		t.Fatal("a broken key file replaced the certificate")
	}
}
