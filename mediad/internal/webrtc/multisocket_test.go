package webrtc_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v3"
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

// recordingWriter keeps the first byte of what is sent through it.
type recordingWriter struct {
	mu   sync.Mutex
	sent []byte
}

func (r *recordingWriter) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, b[0])
	return len(b), nil
}

func (r *recordingWriter) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}

// TestLateCheckKeepsSelectedSocket: the peer nominates the pair on our
// second socket, then a check of its other pair (to our first socket,
// which it learned as peer-reflexive from our own checks) arrives. Its
// response must leave from the first socket, but media stays on the
// second. The route used to be learned per peer address, so the late
// check moved media to a socket the peer never selected (the rare
// TestMultipleLocalSockets failure).
func TestLateCheckKeepsSelectedSocket(t *testing.T) {
	creds, _ := mice.NewCredentials()
	peer, _ := mice.NewCredentials()
	w0, w1 := &recordingWriter{}, &recordingWriter{}
	ep, err := webrtc.NewEndpoint(webrtc.Config{
		Sockets: []webrtc.Socket{
			{Local: netip.MustParseAddrPort("127.0.0.1:4000"), Writer: w0},
			{Local: netip.MustParseAddrPort("127.0.0.2:4000"), Writer: w1},
		},
		ICE: &webrtc.ICEConfig{Local: creds},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	check := func(nominate bool) []byte {
		setters := []stun.Setter{stun.TransactionID, stun.BindingRequest,
			stun.NewUsername(creds.Ufrag + ":" + peer.Ufrag),
			stun.RawAttribute{Type: stun.AttrICEControlling, Value: make([]byte, 8)}}
		if nominate {
			setters = append(setters, stun.RawAttribute{Type: stun.AttrUseCandidate})
		}
		setters = append(setters, stun.NewShortTermIntegrity(creds.Pwd), stun.Fingerprint)
		m, err := stun.Build(setters...)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw
	}
	inbound := func(i int, b []byte) {
		buf := append([]byte(nil), b...)
		ep.Via(i).Inbound(buf, len(buf), from)
	}
	const stunSuccess = 0x01 // first byte of a Binding success response
	inbound(1, check(true))
	if got := w1.take(); len(got) != 1 || got[0] != stunSuccess {
		t.Fatalf("nomination on socket 1: socket 1 sent %x, want one response", got)
	}
	inbound(0, check(false))
	if got := w0.take(); len(got) != 1 || got[0] != stunSuccess {
		t.Fatalf("late check on socket 0: socket 0 sent %x, want its response", got)
	}
	w1.take()
	if handled, err := ep.WritePeer([]byte{0x80, 0, 0, 1}); !handled || err != nil {
		t.Fatalf("WritePeer: handled %v, err %v", handled, err)
	}
	if got := w0.take(); len(got) != 0 {
		t.Fatalf("media left from socket 0, which the peer did not select (%x)", got)
	}
	if got := w1.take(); len(got) != 1 || got[0] != 0x80 {
		t.Fatalf("media on socket 1: %x, want the one packet", got)
	}
}
