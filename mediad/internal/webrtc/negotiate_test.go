package webrtc_test

import (
	"bytes"
	"strings"
	"testing"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/mediad/internal/webrtc/sdes"
)

func attrNames(attrs []webrtc.Attr) string {
	var n []string
	for _, a := range attrs {
		n = append(n, a.Name)
	}
	return strings.Join(n, " ")
}

func newSecurity(t *testing.T) *webrtc.Security {
	t.Helper()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := webrtc.NewSecurity(cert)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Chromium's offer attributes (trimmed to what matters).
var chromeMedia = []webrtc.Attr{
	{"candidate", "1467250027 1 udp 2122260223 127.0.0.1 46000 typ host generation 0 network-id 1"},
	{"ice-ufrag", "aBcD"}, {"ice-pwd", "0123456789abcdefghijklmn"}, {"ice-options", "trickle"},
	{"fingerprint", "sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08"},
	{"setup", "actpass"}, {"mid", "0"}, {"rtcp-mux", ""},
}

func TestOfferAttrsLikeRtpengine(t *testing.T) {
	s := newSecurity(t)
	// Phone to browser (transport-protocol=UDP/TLS/RTP/SAVPF): rtpengine
	// 10.5 offers every SDES suite and DTLS actpass, without a=tls-id.
	l, err := s.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := attrNames(l.SecurityAttrs())
	want := strings.Repeat("crypto ", 12) + "setup fingerprint"
	if got != want {
		t.Fatalf("offer attrs %q, want %q", got, want)
	}
	if l.Setup != dtlssrtp.SetupActpass || !strings.HasPrefix(l.Fingerprint.String(), "sha-256 ") {
		t.Fatalf("setup %q fingerprint %q", l.Setup, l.Fingerprint)
	}
	// A re-offer keeps the keys.
	l2, _ := s.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{})
	if !bytes.Equal(l2.Crypto[0].Key, l.Crypto[0].Key) {
		t.Fatal("re-offer changed the SDES keys")
	}
	// rtpengine 10.5 offers actpass even with DTLS=passive.
	l, _ = newSecurity(t).OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{DTLS: "passive"})
	if l.Setup != dtlssrtp.SetupActpass {
		t.Fatalf("DTLS=passive offer setup %q", l.Setup)
	}
	// WebRTC's SDES-off, and plain RTP: nothing or no crypto.
	l, _ = newSecurity(t).OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{SDESOff: true})
	if got := attrNames(l.SecurityAttrs()); got != "setup fingerprint" {
		t.Fatalf("SDES=off offer %q", got)
	}
	l, _ = newSecurity(t).OfferAttrs(webrtc.ProtoRTPAVP, webrtc.Options{})
	if len(l.SecurityAttrs()) != 0 {
		t.Fatal("security attributes toward RTP/AVP")
	}
	l, _ = newSecurity(t).OfferAttrs(webrtc.ProtoRTPSAVP, webrtc.Options{DTLS: "off", SDES: sdes.Policy{Only: []string{"AES_CM_128_HMAC_SHA1_80"}}})
	if got := attrNames(l.SecurityAttrs()); got != "crypto" {
		t.Fatalf("DTLS=off SDES-only offer %q", got)
	}
}

func TestAnswerAttrsToBrowser(t *testing.T) {
	remote, err := webrtc.ParseRemote(nil, chromeMedia)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		opts  webrtc.Options
		setup dtlssrtp.Setup
	}{
		{webrtc.Options{}, dtlssrtp.SetupActive},
		{webrtc.Options{DTLS: "passive"}, dtlssrtp.SetupPassive},
		{webrtc.Options{DTLSPassive: true}, dtlssrtp.SetupPassive},
		// DTLS=active overrides --dtls-passive, as in rtpengine.
		{webrtc.Options{DTLSPassive: true, DTLS: "active"}, dtlssrtp.SetupActive},
	} {
		l, err := newSecurity(t).AnswerAttrs(webrtc.ProtoDTLSSAVPF, remote, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := attrNames(l.SecurityAttrs()); got != "setup fingerprint" || l.Setup != tt.setup {
			t.Fatalf("%+v: attrs %q setup %q", tt.opts, got, l.Setup)
		}
	}
	// The hash follows the peer's; a peer's tls-id gets ours back.
	sha1 := append([]webrtc.Attr{}, chromeMedia...)
	sha1[4] = webrtc.Attr{Name: "fingerprint", Value: "sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33"}
	sha1 = append(sha1, webrtc.Attr{Name: "tls-id", Value: "abc"})
	remote, _ = webrtc.ParseRemote(nil, sha1)
	l, _ := newSecurity(t).AnswerAttrs(webrtc.ProtoDTLSSAVPF, remote, webrtc.Options{})
	if l.Fingerprint.Hash != "sha-1" || len(l.TLSID) != 32 {
		t.Fatalf("hash %q tls-id %q", l.Fingerprint.Hash, l.TLSID)
	}
}

// TestReofferKeepsPassiveRole: we offered actpass to a browser that took
// the active role; when the browser re-offers actpass we stay passive, so
// the DTLS association carries on (rtpengine does the same). A browser
// we had answered as active is answered active again.
func TestReofferKeepsPassiveRole(t *testing.T) {
	actpass, err := webrtc.ParseRemote(nil, chromeMedia)
	if err != nil {
		t.Fatal(err)
	}
	active := actpass
	active.Setup = dtlssrtp.SetupActive

	s := newSecurity(t)
	if _, err := s.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{}); err != nil {
		t.Fatal(err)
	}
	s.SetAnswer(active)
	l, err := s.AnswerAttrs(webrtc.ProtoDTLSSAVPF, actpass, webrtc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Setup != dtlssrtp.SetupPassive {
		t.Fatalf("answer to the re-offer: setup %q, want passive (our role so far)", l.Setup)
	}
	p, ok, err := s.Plan()
	if err != nil || !ok || p.DTLS == nil || p.DTLS.Role != dtlssrtp.RoleServer {
		t.Fatalf("plan after the re-offer: %+v %v %v", p.DTLS, ok, err)
	}

	s = newSecurity(t)
	if _, err := s.AnswerAttrs(webrtc.ProtoDTLSSAVPF, actpass, webrtc.Options{}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.AnswerAttrs(webrtc.ProtoDTLSSAVPF, actpass, webrtc.Options{}); l.Setup != dtlssrtp.SetupActive {
		t.Fatalf("second answer to an actpass browser: setup %q, want active", l.Setup)
	}
}

func TestSDESOfferAnswerPlans(t *testing.T) {
	// mediad offers SDES to a phone; the phone (another Security) answers.
	us, phone := newSecurity(t), newSecurity(t)
	offer, err := us.OfferAttrs(webrtc.ProtoRTPSAVP, webrtc.Options{DTLS: "off"})
	if err != nil {
		t.Fatal(err)
	}
	toAttrs := func(l webrtc.Local) []webrtc.Attr { return append(l.SecurityAttrs(), l.ICEAttrs()...) }
	rOffer, _ := webrtc.ParseRemote(nil, toAttrs(offer))
	answer, err := phone.AnswerAttrs(webrtc.ProtoRTPSAVP, rOffer, webrtc.Options{SDES: sdes.Policy{Exclude: []string{"AEAD_AES_256_GCM"}}})
	if err != nil || len(answer.Crypto) != 1 || answer.Crypto[0].Suite != "AEAD_AES_128_GCM" {
		t.Fatalf("answer %+v %v", answer.Crypto, err)
	}
	rAnswer, _ := webrtc.ParseRemote(nil, toAttrs(answer))
	us.SetAnswer(rAnswer)
	pu, ok, err := us.Plan()
	if err != nil || !ok || pu.SDESLocal == nil || pu.DTLS != nil || !pu.Controlling {
		t.Fatalf("our plan %+v %v %v", pu, ok, err)
	}
	pp, ok, err := phone.Plan()
	if err != nil || !ok || pp.SDESLocal == nil {
		t.Fatalf("phone plan %+v %v %v", pp, ok, err)
	}
	if !bytes.Equal(pu.SDESLocal.Key, pp.SDESRemote.Key) || !bytes.Equal(pu.SDESRemote.Key, pp.SDESLocal.Key) {
		t.Fatal("the two sides' keys do not pair up")
	}
	if _, ok, _ := newSecurity(t).Plan(); ok {
		t.Fatal("plan ready before the party spoke")
	}
}

// TestSDESPassthrough: between two SDES parties the offerer's lines go to
// the answerer first; if it picks one of them, both sides get each
// other's lines unchanged and nothing is decrypted (rtpengine's default
// without "recrypt").
func TestSDESPassthrough(t *testing.T) {
	a1, _ := sdes.Parse("1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")
	a2, _ := sdes.Parse("2 AES_CM_128_HMAC_SHA1_32 inline:VAzLKvoE3jG9cdH/AZsl/ZqWNXrUzyM4Gw6chrFr")
	b1, _ := sdes.Parse("1 AES_CM_128_HMAC_SHA1_80 inline:dfgadgdfgdfgdfgd6AYjs3vKw7CeBdWZCj0isbJv")
	offerer := webrtc.Remote{Crypto: []sdes.Crypto{a1, a2}}

	for _, tt := range []struct {
		name   string
		answer sdes.Crypto
		pass   bool
	}{
		{"passed line chosen", b1, true},
		{"own line chosen", sdes.Crypto{Tag: 4, Suite: "AEAD_AES_128_GCM", Key: make([]byte, 28)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			toB, toA := newSecurity(t), newSecurity(t)
			offer, err := toB.OfferAttrs(webrtc.ProtoRTPSAVP, webrtc.Options{DTLS: "off", Passthrough: offerer.Crypto})
			if err != nil {
				t.Fatal(err)
			}
			if len(offer.Crypto) != 12 || offer.Crypto[0].String() != a1.String() || offer.Crypto[1].String() != a2.String() {
				t.Fatalf("offer %v", offer.Crypto)
			}
			toB.SetAnswer(webrtc.Remote{Crypto: []sdes.Crypto{tt.answer}})
			chosen, pass := toB.Passthrough()
			if pass != tt.pass {
				t.Fatalf("passthrough %v", pass)
			}
			opts := webrtc.Options{DTLS: "off"}
			if pass {
				opts.PassthroughAnswer = &chosen
			}
			ans, err := toA.AnswerAttrs(webrtc.ProtoRTPSAVP, offerer, opts)
			if err != nil || len(ans.Crypto) != 1 {
				t.Fatalf("answer %v %v", ans.Crypto, err)
			}
			planB, _, _ := toB.Plan()
			planA, _, _ := toA.Plan()
			if pass {
				if ans.Crypto[0].String() != b1.String() || !planA.Passthrough || !planB.Passthrough {
					t.Fatalf("not passed through: %v %+v %+v", ans.Crypto[0], planA, planB)
				}
				return
			}
			if ans.Crypto[0].Key == nil || ans.Crypto[0].String() == b1.String() || planA.Passthrough || planB.Passthrough ||
				planA.SDESLocal == nil || planB.SDESLocal == nil {
				t.Fatalf("recrypt expected: %v %+v %+v", ans.Crypto[0], planA, planB)
			}
		})
	}
}

func TestRTPProto(t *testing.T) {
	for _, c := range []struct {
		in, canon string
		rtp, srtp bool
		dtls      bool
	}{
		{"RTP/AVP", "RTP/AVP", true, false, false},
		{"rtp/avpf", "RTP/AVPF", true, false, false},
		{"RTP/SAVP", "RTP/SAVP", true, true, false},
		{"udp/tls/rtp/savpf", "UDP/TLS/RTP/SAVPF", true, true, true},
		{"TCP/TLS/RTP/SAVPF", "TCP/TLS/RTP/SAVPF", false, false, false},
		{"TCP/RTP/AVP", "TCP/RTP/AVP", false, false, false},
		{"RTP/AVP/TCP", "RTP/AVP/TCP", false, false, false},
		{"udptl", "udptl", false, false, false},
	} {
		canon, rtp := webrtc.RTPProto(c.in)
		if canon != c.canon || rtp != c.rtp || webrtc.IsSRTP(c.in) != c.srtp || webrtc.IsDTLS(c.in) != c.dtls {
			t.Errorf("%s: RTPProto %q %v, IsSRTP %v, IsDTLS %v; want %q %v, %v, %v",
				c.in, canon, rtp, webrtc.IsSRTP(c.in), webrtc.IsDTLS(c.in), c.canon, c.rtp, c.srtp, c.dtls)
		}
	}
}
