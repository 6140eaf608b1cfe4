package webrtc_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	mice "sipmedia/mediad/internal/webrtc/ice"
)

// TestBrowserChromium drives Debian's headless Chromium (playwright-core,
// fake microphone) against the termination: Chromium offers audio, the
// Endpoint answers as DTLS client and controlled ICE agent, RTP flows to a
// plain socket and back, and the browser's getStats shows inbound-rtp.
//
// Chromium gathers no candidates on loopback, so the test re-runs itself
// in a fresh network namespace with a veth pair (browsertest.Enter; root
// needed).
func TestBrowserChromium(t *testing.T) {
	if inside, _ := browsertest.Enter(t, browsertest.Netns{Timeout: 3 * time.Minute}); !inside {
		return
	}
	web := browsertest.WebDir(t)
	t.Run("browser-offers", func(t *testing.T) { runBrowser(t, web, false) })
	t.Run("mediad-offers", func(t *testing.T) { runBrowser(t, web, true) })
}

// runBrowser runs one call: Chromium offers and mediad answers (DTLS
// client, controlled ICE), or with mediadOffers mediad offers actpass as
// the controlling agent and Chromium answers (mediad DTLS server).
func runBrowser(t *testing.T, web string, mediadOffers bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(browsertest.VethAddr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{sec: sec, plain: listenUDP(t), phone: listenUDP(t)}
	b.plainPeer = addrOf(b.phone)
	creds, err := mice.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), ICE: &webrtc.ICEConfig{Local: creds, Controlling: mediadOffers}})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()

	sec2, err := webrtc.NewSecurity(cert)
	if err != nil {
		t.Fatal(err)
	}
	sig := browsertest.Signalling{
		Offer: func(offer string) (string, error) { return answerBrowser(t, b, cert, creds, offer) },
		RemoteOffer: func() (string, error) {
			local, err := sec2.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{SDESOff: true})
			if err != nil {
				return "", err
			}
			full := localFor(t, cert, creds, addrOf(b.sec), local.Setup, dtlssrtp.DefaultHash)
			full.Fingerprint, full.TLSID = local.Fingerprint, ""
			return mediadSDP(addrOf(b.sec), full), nil
		},
		Answer: func(answer string) error {
			remote, err := webrtc.ParseRemote(attrsOf(t, answer))
			if err != nil {
				return err
			}
			sec2.SetAnswer(remote)
			plan, _, err := sec2.Plan()
			if err != nil {
				return err
			}
			return b.ep.Apply(plan)
		},
	}

	// The phone talks PCMU every 20 ms to the plain side and listens for
	// the browser's RTP.
	phoneCtx, stopPhone := context.WithCancel(ctx)
	defer stopPhone()
	to := make(chan netip.AddrPort, 1)
	to <- addrOf(b.plain)
	phone := browsertest.StartPhone(phoneCtx, b.phone, to)

	res := browsertest.AudioCall(ctx, t, web, sig, mediadOffers, time.Minute)
	t.Logf("browser: %+v; endpoint: %+v; ICE: %+v controlling=%v", res, b.ep.Stats(), b.ep.ICE().Stats(), b.ep.ICE().Controlling())
	if mediadOffers != b.ep.ICE().Controlling() {
		t.Errorf("mediad controlling=%v, want %v", b.ep.ICE().Controlling(), mediadOffers)
	}
	if res.Inbound == 0 {
		t.Fatal("browser received no RTP (inbound-rtp packetsReceived = 0)")
	}
	if phone.Received() == 0 {
		t.Fatal("plain endpoint received no RTP from the browser")
	}
}

// answerBrowser configures the endpoint from Chromium's offer and returns
// mediad's answer: setup:active (DTLS client), controlled ICE agent.
func answerBrowser(t *testing.T, b *bridge, cert *dtlssrtp.Certificate, creds mice.Credentials, offer string) (string, error) {
	remote, err := webrtc.ParseRemote(attrsOf(t, offer))
	if err != nil {
		return "", err
	}
	if remote.Fingerprint == nil || remote.ICE.Ufrag == "" {
		return "", errors.New("offer lacks fingerprint or ICE credentials")
	}
	b.ep.ICE().SetRemote(remote.ICE, remote.Candidates)
	role := dtlssrtp.AnswerRole(remote.Setup, false)
	if err := b.ep.StartDTLS(webrtc.DTLSParams{Cert: cert, Role: role, Remote: *remote.Fingerprint}); err != nil {
		return "", err
	}
	return mediadSDP(addrOf(b.sec), localFor(t, cert, creds, addrOf(b.sec), dtlssrtp.SetupFor(role), remote.Fingerprint.Hash)), nil
}
