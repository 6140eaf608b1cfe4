package webrtc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v3"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/ice"
)

// TestBadInputDroppedAndCounted throws garbage DTLS, STUN with wrong
// credentials, SRTP with bad tags, replays and unknown bytes at an
// endpoint and checks each is counted while media keeps flowing.
func TestBadInputDroppedAndCounted(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, profile, keys := sdesBridge(t, "AES_CM_128_HMAC_SHA1_80")
	defer b.close()
	enc, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := addrOf(b.sec)
	send := func(p []byte) {
		t.Helper()
		if _, err := peer.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	srtpPkt := func(seq uint16, payload string) []byte {
		p, err := enc.EncryptRTP(nil, rtpPacket(t, seq, 0x777, []byte(payload)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := srtpPkt(1, "first")
	send(good)
	if err := readRTP(ctx, b.phone, []byte("first")); err != nil {
		t.Fatal(err)
	}
	send(good) // replay
	bad := srtpPkt(2, "tampered")
	bad[len(bad)-1] ^= 0xff // auth tag
	send(bad)
	send([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3}) // DTLS record, no session
	send(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername("a:b"),
		stun.NewShortTermIntegrity("wrongwrongwrongwrongwrong"), stun.Fingerprint).Raw) // STUN without ICE
	send([]byte{70, 1, 2, 3}) // outside RFC 7983 ranges
	send(srtpPkt(3, "after"))
	if err := readRTP(ctx, b.phone, []byte("after")); err != nil {
		t.Fatalf("media stalled after bad input: %v", err)
	}
	st := b.ep.Stats()
	// The DTLS record is kept as a possible early ClientHello (one slot).
	if st.SRTPReply != 1 || st.SRTPAuthFail != 1 || st.DTLSDropped+st.DTLSEarly != 1 || st.STUNBad != 1 || st.Unknown != 1 || st.SRTPIn != 2 {
		t.Fatalf("counters %+v", st)
	}
}

// TestDTLSGarbageDuringHandshake feeds garbage DTLS and STUN with wrong
// credentials to an ICE+DTLS server endpoint; a real pion/dtls client that
// passed ICE still completes the handshake, and the keys agree.
func TestDTLSGarbageDuringHandshake(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientFP, _ := clientCert.Fingerprint("sha-256")
	creds, _ := ice.NewCredentials()
	b := newBridge(t)
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), ICE: &webrtc.ICEConfig{Local: creds}})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()
	if err := b.ep.StartDTLS(webrtc.DTLSParams{Cert: cert, Role: dtlssrtp.RoleServer, Remote: clientFP}); err != nil {
		t.Fatal(err)
	}

	attacker := listenUDP(t)
	defer attacker.Close()
	for i := range 50 {
		_, _ = attacker.WriteToUDPAddrPort([]byte{22, 0xfe, 0xfd, byte(i), 0xff, 0xff, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3}, addrOf(b.sec))
	}
	_, _ = attacker.WriteToUDPAddrPort(stun.MustBuild(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(creds.Ufrag+":x"), stun.NewShortTermIntegrity("wrongwrongwrongwrongwrong"), stun.Fingerprint).Raw, addrOf(b.sec))

	// The legitimate client authenticates with ICE, then handshakes.
	client := listenUDP(t)
	defer client.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername(creds.Ufrag+":peer"),
		stun.NewShortTermIntegrity(creds.Pwd), stun.Fingerprint)
	if _, err := client.WriteToUDPAddrPort(req.Raw, addrOf(b.sec)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := client.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no STUN response: %v", err)
	}
	resp := &stun.Message{Raw: buf[:n]}
	if err := resp.Decode(); err != nil || resp.Type != stun.BindingSuccess {
		t.Fatalf("STUN response %v %v", resp, err)
	}
	_ = client.SetReadDeadline(time.Time{})

	serverFP, _ := cert.Fingerprint("sha-256")
	cs, err := dtlssrtp.Start(ctx, dtlssrtp.Config{Cert: clientCert, Role: dtlssrtp.RoleClient, Remote: serverFP,
		Send: func(p []byte) error { _, err := client.WriteToUDPAddrPort(p, addrOf(b.sec)); return err }})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := client.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			cs.Feed(buf[:n])
		}
	}()
	select {
	case <-cs.Done():
	case <-ctx.Done():
		t.Fatal("client handshake timed out")
	}
	ck, err := cs.Result()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.ep.DTLSDone():
	case <-ctx.Done():
		t.Fatal("server handshake timed out")
	}
	// Wait for keys to be installed, then check they agree with the client's.
	for !b.ep.Secure() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	enc, err := srtp.CreateContext(ck.LocalMasterKey, ck.LocalMasterSalt, ck.Profile)
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := enc.EncryptRTP(nil, rtpPacket(t, 1, 5, []byte("keys agree")), &rtp.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WriteToUDPAddrPort(pkt, addrOf(b.sec)); err != nil {
		t.Fatal(err)
	}
	if err := readRTP(ctx, b.phone, []byte("keys agree")); err != nil {
		t.Fatal(err)
	}
	st := b.ep.Stats()
	if st.DTLSDropped < 50 || st.STUNBad != 1 {
		t.Fatalf("garbage not counted: %+v", st)
	}
}
