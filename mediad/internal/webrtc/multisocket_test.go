package webrtc_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	mice "sipmedia/mediad/internal/webrtc/ice"
)

// TestMultipleLocalSockets: the component is bound on two addresses but
// only the second is offered as a candidate. DTLS and SRTP must leave from
// the socket the peer talks to (Via/WritePeer), although the first socket
// is the default.
func TestMultipleLocalSockets(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s1 := listenUDP(t)
	s2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("skipping: cannot bind 127.0.0.2: %v", err)
	}
	plain, phone := listenUDP(t), listenUDP(t)
	creds, _ := mice.NewCredentials()
	w1 := &countingWriter{w: s1}
	ep, err := webrtc.NewEndpoint(webrtc.Config{
		Sockets: []webrtc.Socket{{Local: addrOf(s1), Writer: w1}, {Local: addrOf(s2), Writer: s2}},
		ICE:     &webrtc.ICEConfig{Local: creds},
	})
	if err != nil {
		t.Fatal(err)
	}
	ep.Start(ctx)
	var wg sync.WaitGroup
	defer func() {
		ep.Close()
		s1.Close()
		s2.Close()
		plain.Close()
		phone.Close()
		wg.Wait()
	}()
	for i, c := range []*net.UDPConn{s1, s2} {
		tr := ep.Via(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if out, fwd := tr.Inbound(buf, n, from); fwd {
					_, _ = plain.WriteToUDPAddrPort(out, addrOf(phone))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		enc := make([]byte, 1500+webrtc.MaxOverhead)
		for {
			n, _, err := plain.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if out, err := ep.Outbound(enc[:0], buf[:n]); err == nil {
				_, _ = ep.WritePeer(out)
			}
		}
	}()

	pc, track, got := newPionPeer(t)
	defer pc.Close()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	remote, err := webrtc.ParseRemote(attrsOf(t, waitGathered(t, pc)))
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := webrtc.NewSecurity(cert)
	local, err := sec.AnswerAttrs(webrtc.ProtoDTLSSAVPF, remote, webrtc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan, _, _ := sec.Plan()
	if err := ep.Apply(plan); err != nil {
		t.Fatal(err)
	}
	full := localFor(t, cert, creds, addrOf(s2), local.Setup, remote.Fingerprint.Hash)
	full.Fingerprint = local.Fingerprint
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: mediadSDP(addrOf(s2), full)}); err != nil {
		t.Fatal(err)
	}
	b := &bridge{sec: s2, plain: plain, phone: phone, plainPeer: addrOf(phone), ep: ep}
	exchangeMedia(ctx, t, b, track, got)
	if sel, ok := ep.Peer(); !ok || !sel.IsValid() {
		t.Fatalf("no selected peer")
	}
	if n := w1.n.Load(); n != 0 {
		t.Fatalf("%d packets left from the socket the peer does not use", n)
	}
}

type countingWriter struct {
	w interface {
		WriteToUDPAddrPort([]byte, netip.AddrPort) (int, error)
	}
	n atomic.Int64
}

// Our own early ICE checks may leave from any socket of the family (the
// peer's address is not known to a socket yet); DTLS and media may not.
func (c *countingWriter) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if len(b) > 0 && b[0] >= 20 {
		c.n.Add(1)
	}
	return c.w.WriteToUDPAddrPort(b, to)
}
