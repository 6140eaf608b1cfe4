package webrtc_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	mice "sipmedia/mediad/internal/webrtc/ice"
)

// newPionPeer returns a pion PeerConnection restricted to IPv4 loopback,
// with one PCMU track to send, and a channel of received RTP payloads.
func newPionPeer(t *testing.T) (*pion.PeerConnection, *pion.TrackLocalStaticRTP, chan []byte) {
	t.Helper()
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	// A plain RTP phone declares no a=ssrc; browsers accept the unsignalled
	// SSRC of a single audio section, pion only when told so.
	se.SetHandleUndeclaredSSRCWithoutAnswer(true)
	var me pion.MediaEngine
	if err := me.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000},
		PayloadType:        0,
	}, pion.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	api := pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(&me))
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	track, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, "audio", "pion")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 64)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case got <- p.Payload:
			default:
			}
		}
	})
	return pc, track, got
}

// attrsOf splits a parsed SDP into session and first-media attributes.
func attrsOf(t *testing.T, raw string) (session, media []webrtc.Attr) {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		t.Fatalf("parse SDP: %v\n%s", err, raw)
	}
	for _, a := range sd.Attributes {
		session = append(session, webrtc.Attr{Name: a.Key, Value: a.Value})
	}
	if len(sd.MediaDescriptions) == 0 {
		t.Fatal("no m= line")
	}
	for _, a := range sd.MediaDescriptions[0].Attributes {
		media = append(media, webrtc.Attr{Name: a.Key, Value: a.Value})
	}
	return session, media
}

// mediadSDP writes the SDP mediad would send for one audio stream.
func mediadSDP(addr netip.AddrPort, l webrtc.Local) string {
	var b strings.Builder
	port := addr.Port()
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n", addr.Addr())
	fmt.Fprintf(&b, "m=audio %d UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 %s\r\na=mid:0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", port, addr.Addr())
	fmt.Fprintf(&b, "a=rtcp:%d\r\na=rtcp-mux\r\n", port)
	for _, a := range l.SecurityAttrs() {
		b.WriteString(a.String() + "\r\n")
	}
	for _, a := range l.ICEAttrs() {
		b.WriteString(a.String() + "\r\n")
	}
	return b.String()
}

func localFor(t *testing.T, cert *dtlssrtp.Certificate, creds mice.Credentials, addr netip.AddrPort, setup dtlssrtp.Setup, hash string) webrtc.Local {
	t.Helper()
	fp, err := cert.Fingerprint(hash)
	if err != nil {
		t.Fatal(err)
	}
	tlsID, err := dtlssrtp.NewTLSID()
	if err != nil {
		t.Fatal(err)
	}
	return webrtc.Local{
		Setup: setup, Fingerprint: &fp, TLSID: tlsID, ICE: &creds,
		Candidates: []mice.Candidate{{
			Foundation: mice.Foundation(addr.Addr(), mice.TypeHost), Component: 1, Transport: "UDP",
			Priority: mice.HostPriority(0, 1), Addr: addr, Type: mice.TypeHost,
		}},
		EndOfCandidates: true,
	}
}

func waitGathered(t *testing.T, pc *pion.PeerConnection) string {
	t.Helper()
	select {
	case <-pion.GatheringCompletePromise(pc):
	case <-time.After(5 * time.Second):
		t.Fatal("ICE gathering timed out")
	}
	return pc.LocalDescription().SDP
}

// exchangeMedia sends RTP both ways and checks the payload bytes.
func exchangeMedia(ctx context.Context, t *testing.T, b *bridge, track *pion.TrackLocalStaticRTP, got chan []byte) {
	t.Helper()
	phone := b.phone

	// Browser -> phone.
	toPhone := []byte("from-browser-0123456789")
	errc := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- readRTP(rctx, phone, toPhone) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq := uint16(1)
	for done := false; !done; {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("browser->phone: %v", err)
			}
			done = true
		case <-tick.C:
			seq++
			if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: toPhone}); err != nil {
				t.Fatalf("pion write: %v", err)
			}
		case <-ctx.Done():
			t.Fatalf("browser->phone: %v (stats %+v)", ctx.Err(), b.ep.Stats())
		}
	}

	// Phone -> browser.
	toBrowser := []byte("from-phone-abcdefghij")
	secAddr := addrOf(b.plain)
	for i := uint16(0); ; i++ {
		if _, err := phone.WriteToUDPAddrPort(rtpPacket(t, 100+i, 0x1234, toBrowser), secAddr); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if string(p) == string(toBrowser) {
				st := b.ep.Stats()
				if st.SRTPIn == 0 || st.SRTPOut == 0 {
					t.Fatalf("counters not moving: %+v", st)
				}
				return
			}
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("phone->browser: %v (stats %+v)", ctx.Err(), b.ep.Stats())
		}
	}
}

// TestPionOffersMediadClient: a browser-like pion peer offers (actpass,
// controlling); mediad answers setup:active and is the DTLS client and the
// controlled ICE agent.
func TestPionOffersMediadClient(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
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
	if remote.Fingerprint == nil || remote.ICE.Ufrag == "" || len(remote.Candidates) == 0 || remote.Setup != dtlssrtp.SetupActpass {
		t.Fatalf("incomplete offer: %+v", remote)
	}

	b := newBridge(t)
	creds, err := mice.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), ICE: &webrtc.ICEConfig{Local: creds}})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()
	sec, err := webrtc.NewSecurity(cert)
	if err != nil {
		t.Fatal(err)
	}
	local, err := sec.AnswerAttrs(webrtc.ProtoDTLSSAVPF, remote, webrtc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if local.Setup != dtlssrtp.SetupActive {
		t.Fatalf("answer setup %q, want active", local.Setup)
	}
	plan, ok, err := sec.Plan()
	if err != nil || !ok || plan.DTLS == nil || plan.DTLS.Role != dtlssrtp.RoleClient || plan.Controlling {
		t.Fatalf("plan %+v %v %v", plan, ok, err)
	}
	if err := b.ep.Apply(plan); err != nil {
		t.Fatal(err)
	}
	full := localFor(t, cert, creds, addrOf(b.sec), local.Setup, remote.Fingerprint.Hash)
	full.Fingerprint = local.Fingerprint
	answer := mediadSDP(addrOf(b.sec), full)
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("pion rejected answer: %v\n%s", err, answer)
	}
	exchangeMedia(ctx, t, b, track, got)
	if b.ep.ICE().Controlling() {
		t.Error("mediad should be the controlled agent")
	}
}

// TestMediadOffersPionAnswers: mediad offers actpass as the controlling
// full ICE agent; pion answers active, so mediad is the DTLS server.
func TestMediadOffersPionAnswers(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	b := newBridge(t)
	creds, err := mice.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), ICE: &webrtc.ICEConfig{Local: creds, Controlling: true}})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()
	sec, err := webrtc.NewSecurity(cert)
	if err != nil {
		t.Fatal(err)
	}
	local, err := sec.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{SDESOff: true})
	if err != nil {
		t.Fatal(err)
	}
	full := localFor(t, cert, creds, addrOf(b.sec), local.Setup, dtlssrtp.DefaultHash)
	full.Fingerprint, full.TLSID = local.Fingerprint, ""
	offer := mediadSDP(addrOf(b.sec), full)

	pc, track, got := newPionPeer(t)
	defer pc.Close()
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("pion rejected offer: %v\n%s", err, offer)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	remote, err := webrtc.ParseRemote(attrsOf(t, waitGathered(t, pc)))
	if err != nil {
		t.Fatal(err)
	}
	sec.SetAnswer(remote)
	plan, ok, err := sec.Plan()
	if err != nil || !ok || plan.DTLS == nil || plan.DTLS.Role != dtlssrtp.RoleServer || !plan.Controlling {
		t.Fatalf("pion answered setup %q; plan %+v %v %v", remote.Setup, plan, ok, err)
	}
	if err := b.ep.Apply(plan); err != nil {
		t.Fatal(err)
	}
	exchangeMedia(ctx, t, b, track, got)
	// A re-INVITE with the same answer must not restart DTLS (#2156).
	done := b.ep.DTLSDone()
	if err := b.ep.Apply(plan); err != nil {
		t.Fatal(err)
	}
	if b.ep.DTLSDone() != done {
		t.Fatal("re-applying the same negotiation restarted DTLS")
	}
	exchangeMedia(ctx, t, b, track, got)
	if !b.ep.ICE().Controlling() || !b.ep.ICE().Nominated() {
		t.Error("mediad should be the controlling agent and have nominated a pair")
	}
}
