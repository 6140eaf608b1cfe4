package webrtc_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/srtp/v3"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/sdes"
	"sipmedia/ngproto/logbuf"
)

// TestDTLSClientWithoutICE: a DTLS-SRTP peer without ICE (setup:passive);
// mediad is the client and sends its ClientHello to the signalled address
// (SetDTLSHint); SRTP keyed by the handshake reaches the plain side. The
// keys are logged at error, as with rtpengine's --log-srtp-keys.
func TestDTLSClientWithoutICE(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ourCert, _ := dtlssrtp.NewCertificate()
	peerCert, _ := dtlssrtp.NewCertificate()
	ourFP, _ := ourCert.Fingerprint("sha-256")
	peerFP, _ := peerCert.Fingerprint("sha-256")

	b := newBridge(t)
	var err error
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), Log: log, LogKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()

	peer := listenUDP(t)
	defer peer.Close()
	ps, err := dtlssrtp.Start(ctx, dtlssrtp.Config{Cert: peerCert, Role: dtlssrtp.RoleServer, Remote: ourFP,
		Send: func(p []byte) error { _, err := peer.WriteToUDPAddrPort(p, addrOf(b.sec)); return err }})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ps.Feed(buf[:n])
		}
	}()
	b.ep.SetDTLSHint(addrOf(peer))
	if err := b.ep.StartDTLS(webrtc.DTLSParams{Cert: ourCert, Role: dtlssrtp.RoleClient, Remote: peerFP}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ps.Done():
	case <-ctx.Done():
		t.Fatal("handshake timed out")
	}
	keys, err := ps.Result()
	if err != nil {
		t.Fatal(err)
	}
	for !b.ep.Secure() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	suite, _ := sdes.SuiteOfProfile(keys.Profile)
	b64 := base64.StdEncoding.EncodeToString
	// The peer's outgoing keys are our incoming ones.
	for _, kv := range [][2]string{{"level", "ERROR"}, {"msg", "SRTP keys"}, {"component", "srtp"}, {"suite", suite.Name},
		{"in-key", b64(keys.LocalMasterKey)}, {"in-salt", b64(keys.LocalMasterSalt)},
		{"out-key", b64(keys.RemoteMasterKey)}, {"out-salt", b64(keys.RemoteMasterSalt)}} {
		if out := logs.String(); kv[1] == "" || !strings.Contains(out, kv[0]+"="+kv[1]+" ") && !strings.Contains(out, kv[0]+"="+kv[1]+"\n") &&
			!strings.Contains(out, kv[0]+"="+strconv.Quote(kv[1])) {
			t.Errorf("keys log:\n%s\nwant %s=%s", out, kv[0], kv[1])
		}
	}
	enc, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, keys.Profile)
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := enc.EncryptRTP(nil, rtpPacket(t, 1, 9, []byte("no ice")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteToUDPAddrPort(pkt, addrOf(b.sec)); err != nil {
		t.Fatal(err)
	}
	if err := readRTP(ctx, b.phone, []byte("no ice")); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.ep.Peer(); ok {
		t.Fatal("the DTLS hint must not become the media peer")
	}
}

// TestEarlyClientHello: the peer's ClientHello arrives before the
// endpoint knows it is DTLS server (the SDP answer still on its way);
// the session starts with it instead of dropping it.
func TestEarlyClientHello(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ourCert, _ := dtlssrtp.NewCertificate()
	peerCert, _ := dtlssrtp.NewCertificate()
	ourFP, _ := ourCert.Fingerprint("sha-256")
	peerFP, _ := peerCert.Fingerprint("sha-256")
	b := newBridge(t)
	var err error
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec)})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()
	peer := listenUDP(t)
	defer peer.Close()
	hello := make(chan struct{}, 1)
	pc, err := dtlssrtp.Start(ctx, dtlssrtp.Config{Cert: peerCert, Role: dtlssrtp.RoleClient, Remote: ourFP,
		Send: func(p []byte) error {
			select {
			case hello <- struct{}{}:
			default:
			}
			_, err := peer.WriteToUDPAddrPort(p, addrOf(b.sec))
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.Feed(buf[:n])
		}
	}()
	<-hello
	// Wait until the ClientHello has arrived while there is no session.
	for b.ep.Stats().DTLSEarly == 0 {
		if ctx.Err() != nil {
			t.Fatalf("early ClientHello not kept: %+v", b.ep.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := b.ep.StartDTLS(webrtc.DTLSParams{Cert: ourCert, Role: dtlssrtp.RoleServer, Remote: peerFP}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.ep.DTLSDone():
	case <-ctx.Done():
		t.Fatal("handshake timed out")
	}
	if st := b.ep.Stats(); st.DTLSDropped != 0 || st.DTLSIn == 0 {
		t.Fatalf("early ClientHello not used: %+v", st)
	}
}
