package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// TestNGWebSocket compares rtpengine's WebSocket control with mediad's,
// on HTTP and HTTPS listeners: NG messages over ng.rtpengine.com (as
// Kamailio's and OpenSIPS's ws:// and wss:// rtpengine sockets send them:
// bencode and JSON, retransmissions answered from the cookie cache,
// garbage ignored), CLI commands over cli.rtpengine.com and the echo
// protocol; every reply a binary message. A client asking for no
// protocol of these is refused.
func TestNGWebSocket(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ports := map[string][2]int{}
	for _, name := range []string{"mediad", "rtpengine"} {
		ports[name] = [2]int{testport.Get(t), testport.Get(t)}
	}
	extra := func(name string) []string {
		p := ports[name]
		return []string{"--listen-http=127.0.0.1:" + strconv.Itoa(p[0]), "--listen-https=127.0.0.1:" + strconv.Itoa(p[1]),
			"--https-cert=" + certFile, "--https-key=" + keyFile}
	}
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		httpURL := "ws://127.0.0.1:" + strconv.Itoa(ports[name][0])
		httpsURL := "wss://127.0.0.1:" + strconv.Itoa(ports[name][1])
		tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		dial := func(url, proto string, secure bool) *websocket.Conn {
			t.Helper()
			opts := &websocket.DialOptions{Subprotocols: []string{proto}}
			if secure {
				opts.HTTPClient = tlsClient
			}
			c, _, err := websocket.Dial(ctx, url, opts)
			if err != nil {
				t.Fatalf("%s %s: %v", url, proto, err)
			}
			if c.Subprotocol() != proto {
				t.Errorf("%s: subprotocol %q, want %q", url, c.Subprotocol(), proto)
			}
			t.Cleanup(func() { c.CloseNow() })
			return c
		}
		roundTrip := func(c *websocket.Conn, msg string) string {
			t.Helper()
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			typ, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("reply to %q: %v", msg, err)
			}
			if typ != websocket.MessageBinary {
				t.Errorf("reply to %q is a %v message, want binary", msg, typ)
			}
			return string(b)
		}

		for _, url := range []string{httpURL + "/", httpsURL + "/ng"} {
			c := dial(url, "ng.rtpengine.com", strings.HasPrefix(url, "wss"))
			for _, tc := range []struct{ req, want string }{
				{"c1 d7:command4:pinge", "c1 d6:result4:ponge"},
				{"c1 d7:command4:pinge", "c1 d6:result4:ponge"}, // a retransmission
				{`c2 {"command":"ping"}`, `c2 {"result":"pong"}`},
			} {
				if got := roundTrip(c, tc.req); got != tc.want {
					t.Errorf("%s: %q -> %q, want %q", url, tc.req, got, tc.want)
				}
			}
			// Garbage gets no reply; the next request does.
			if err := c.Write(ctx, websocket.MessageBinary, []byte("garbage")); err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(c, "c3 d7:command4:pinge"); got != "c3 d6:result4:ponge" {
				t.Errorf("%s: after garbage: %q", url, got)
			}
		}

		// A call set up over WebSocket, queried over UDP, deleted over WSS.
		c := dial(httpURL, "ng.rtpengine.com", false)
		a, b := newBlockParty(t, "ta", 1), newBlockParty(t, "tb", 2)
		body, err := ngproto.EncodeBody(offer("ws-"+name, a.tag, a.sdp(1), nil), ngproto.Bencode)
		if err != nil {
			t.Fatal(err)
		}
		reply := roundTrip(c, "o1 "+string(body))
		r, _, err := ngproto.DecodeBody([]byte(strings.TrimPrefix(reply, "o1 ")))
		if err != nil || r.Str("result") != "ok" || !strings.HasPrefix(r.Str("sdp"), "v=0") {
			t.Fatalf("offer over WebSocket: %q %v", reply, err)
		}
		b.learn(t, r.Str("sdp"))
		if q := ngDo(t, ng, query("ws-"+name, nil)); q.Str("result") != "ok" {
			t.Errorf("query over UDP of the call made over WebSocket: %v", q)
		}

		cli := dial(httpURL, "cli.rtpengine.com", false)
		got := roundTrip(cli, "list numsessions")
		if !strings.HasPrefix(got, "Current sessions own: 1\n") || !strings.Contains(got, "Current sessions total: 1\n") {
			t.Errorf("CLI list numsessions:\n%s", got)
		}
		if got := roundTrip(cli, "bogus"); got != "Unknown or incomplete command::bogus\n" {
			t.Errorf("CLI bogus: %q", got)
		}
		sc := dial(httpsURL, "ng.rtpengine.com", true)
		body, err = ngproto.EncodeBody(del("ws-"+name, kv{"from-tag": a.tag, "delete-delay": 0}), ngproto.Bencode)
		if err != nil {
			t.Fatal(err)
		}
		if reply := roundTrip(sc, "d1 "+string(body)); !strings.HasPrefix(reply, "d1 d") || !strings.Contains(reply, "6:result2:ok") {
			t.Errorf("delete over WSS: %q", reply)
		}
		if got := ngCalls(t, ng); len(got) != 0 {
			t.Errorf("calls left: %v", got)
		}

		echo := dial(httpsURL, "echo.rtpengine.com", true)
		if got := roundTrip(echo, "hello"); got != "hello" {
			t.Errorf("echo: %q", got)
		}
		for _, proto := range [][]string{nil, {"sip"}} {
			if c, _, err := websocket.Dial(ctx, httpURL, &websocket.DialOptions{Subprotocols: proto}); err == nil {
				c.CloseNow()
				t.Errorf("a WebSocket asking for %q was accepted", proto)
			}
		}

		// Plain HTTPS beside WSS.
		resp, err := tlsClient.Get("https://127.0.0.1:" + strconv.Itoa(ports[name][1]) + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		pong, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(pong) != "pong\n" {
			t.Errorf("GET /ping over HTTPS: %d %q", resp.StatusCode, pong)
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestNGTCP compares rtpengine's NG over TCP (--listen-tcp-ng) with
// mediad's: messages written back to back are answered in order, one
// split over several writes once it is whole, a retransmitted cookie gets
// the same reply, and a call made over TCP is the one UDP queries.
func TestNGTCP(t *testing.T) {
	ports := map[string]int{"mediad": testport.Get(t), "rtpengine": testport.Get(t)}
	extra := func(name string) []string { return []string{"--listen-tcp-ng=127.0.0.1:" + strconv.Itoa(ports[name])} }
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ports[name]), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var pending []byte
		read := func() string {
			t.Helper()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 65536)
			for ngproto.StreamMessageLen(pending) == 0 {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("read (have %q): %v", pending, err)
				}
				pending = append(pending, buf[:n]...)
			}
			n := ngproto.StreamMessageLen(pending)
			msg := string(pending[:n])
			pending = pending[n:]
			return msg
		}
		write := func(parts ...string) {
			t.Helper()
			for i, p := range parts {
				if i > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				if _, err := io.WriteString(c, p); err != nil {
					t.Fatal(err)
				}
			}
		}
		write("p1 d7:command4:pingep2 d7:command4:pinge")
		for _, want := range []string{"p1 d6:result4:ponge", "p2 d6:result4:ponge"} {
			if got := read(); got != want {
				t.Errorf("pipelined: %q, want %q", got, want)
			}
		}

		a := newBlockParty(t, "ta", 1)
		body, err := ngproto.EncodeBody(offer("tcp-"+name, a.tag, a.sdp(1), nil), ngproto.Bencode)
		if err != nil {
			t.Fatal(err)
		}
		msg := "o1 " + string(body)
		write(msg[:10], msg[10:len(msg)/2], msg[len(msg)/2:])
		first := read()
		m, err := ngproto.DecodeMessage([]byte(first))
		if err != nil || m.Cookie != "o1" || m.Body.Result() != "ok" || !strings.HasPrefix(m.Body.Str("sdp"), "v=0") {
			t.Fatalf("offer split over three writes: %q %v", first, err)
		}
		write(msg)
		if again := read(); again != first {
			t.Errorf("retransmitted offer: %q, want the first reply %q", again, first)
		}
		if q := ngDo(t, ng, query("tcp-"+name, nil)); q.Result() != "ok" {
			t.Errorf("query over UDP of the call made over TCP: %v", q)
		}
		body, err = ngproto.EncodeBody(del("tcp-"+name, kv{"delete-delay": 0}), ngproto.Bencode)
		if err != nil {
			t.Fatal(err)
		}
		write("d1 " + string(body))
		if got := read(); !strings.HasPrefix(got, "d1 d") || !strings.Contains(got, "6:result2:ok") {
			t.Errorf("delete over TCP: %q", got)
		}
	})
}
