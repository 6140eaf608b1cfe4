package call

import (
	"net/netip"
	"strings"
	"testing"
)

// Ports testPortBase+5000..5099 are this file's.

const browserOfferSDP = "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=candidate:1 1 udp 2122260223 127.0.0.5 50000 typ host\r\na=ice-ufrag:Xy7q\r\na=ice-pwd:Qm9vZGxlQm9vZGxlQm9vZGxlQm9v\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"

const phoneSDP = "v=0\r\no=p 1 1 IN IP4 127.0.0.6\r\ns=-\r\nc=IN IP4 127.0.0.6\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n"

func attrLines(sdp, prefix string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// TestBrowserToPhoneSecurity: the seed's browser-to-phone flags. The phone
// gets plain RTP/AVP; the browser's answer carries our DTLS attributes
// (active, or passive with DTLS=passive), ICE, and the phone's sockets do
// not move between offer and answer.
func TestBrowserToPhoneSecurity(t *testing.T) {
	for _, tt := range []struct {
		dtls, setup string
	}{{"", "a=setup:active"}, {"passive", "a=setup:passive"}} {
		// A subtest each, so that one's registry (and its ports) is
		// gone before the next takes the same range.
		t.Run("dtls="+tt.dtls, func(t *testing.T) { browserToPhoneSecurity(t, tt.dtls, tt.setup) })
	}
}

func browserToPhoneSecurity(t *testing.T, dtls, setup string) {
	r, _ := newReg(t, Config{Interfaces: []Interface{
		{Name: "default", Address: netip.MustParseAddr("127.0.0.77")},
		{Name: "default", Address: netip.MustParseAddr("::1")},
	}}, testPortBase+5000, testPortBase+5099)
	toPhone, err := r.Offer(&Params{CallID: "c", FromTag: "b", SDP: browserOfferSDP, ICE: "remove",
		TransportProtocol: "RTP/AVP", Replace: map[string]bool{"origin": true}, RTCPMux: map[string]bool{"demux": true}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(toPhone, " RTP/AVP ") || len(attrLines(toPhone, "a=crypto")) != 0 || len(attrLines(toPhone, "a=fingerprint")) != 0 {
		t.Fatalf("SDP to the phone is not plain RTP:\n%s", toPhone)
	}
	phonePort := mediaPorts(t, toPhone)[0]
	toBrowser, err := r.Answer(&Params{CallID: "c", FromTag: "b", ToTag: "p", SDP: phoneSDP, ICE: "force", DTLS: dtls,
		TransportProtocol: "UDP/TLS/RTP/SAVPF", RTCPMux: map[string]bool{"require": true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" UDP/TLS/RTP/SAVPF ", setup, "a=fingerprint:sha-256 ", "a=ice-ufrag:", "a=candidate:", "a=rtcp-mux"} {
		if !strings.Contains(toBrowser, want) {
			t.Errorf("answer to the browser lacks %q:\n%s", want, toBrowser)
		}
	}
	if n := len(attrLines(toBrowser, "a=crypto")); n != 0 {
		t.Errorf("%d a=crypto lines toward a DTLS browser", n)
	}
	c := r.lookup("c")
	got := c.byTag("p").Medias[0].pair.RTP
	c.mu.Unlock()
	if got != phonePort {
		t.Fatalf("the phone's port moved from %d to %d in the answer", phonePort, got)
	}
}

// TestPhoneToSDESPhone: plain offerer bridged to RTP/SAVP gets every
// suite offered; the SRTP phone's choice is answered back as plain RTP.
func TestPhoneToSDESPhone(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+5000, testPortBase+5099)
	out, err := r.Offer(&Params{CallID: "s", FromTag: "a", SDP: phoneSDP, TransportProtocol: "RTP/SAVP", DTLS: "off"})
	if err != nil {
		t.Fatal(err)
	}
	cr := attrLines(out, "a=crypto:")
	if len(cr) != 12 || !strings.HasPrefix(cr[0], "a=crypto:1 AEAD_AES_256_GCM inline:") || len(attrLines(out, "a=fingerprint")) != 0 {
		t.Fatalf("offer:\n%s", out)
	}
	ans := strings.Replace(phoneSDP, "RTP/AVP", "RTP/SAVP", 1) + "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:GFdjT5d8Dk7gU1RUjN1Q2qklwdBvyPT/g726e1sa\r\n"
	back, err := r.Answer(&Params{CallID: "s", FromTag: "a", ToTag: "b", SDP: ans})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back, " RTP/AVP ") || len(attrLines(back, "a=crypto")) != 0 {
		t.Fatalf("answer to the plain offerer:\n%s", back)
	}
	c := r.lookup("s")
	plan, ok, err := c.byTag("b").Medias[0].sec.Plan()
	c.mu.Unlock()
	if err != nil || !ok || plan.SDESLocal == nil || plan.SDESLocal.Tag != 7 {
		t.Fatalf("SDES plan %+v %v %v", plan, ok, err)
	}
}

// TestPassthroughCandidates: between two ICE parties with ICE=force-relay
// (the seed's browser-to-browser flags) the party's host candidates go
// through, its own relay candidates make way for ours (rtpengine's
// passthrough), and the m= line keeps the party's port.
func TestPassthroughCandidates(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+5000, testPortBase+5099)
	const theirRelay = "a=candidate:9 1 udp 16777215 203.0.113.9 61000 typ relay raddr 0.0.0.0 rport 0"
	offerSDP := strings.Replace(browserOfferSDP, "a=ice-ufrag:", theirRelay+"\r\na=ice-ufrag:", 1)
	out, err := r.Offer(&Params{CallID: "pt", FromTag: "a", SDP: offerSDP, ICE: "force-relay", DTLS: "passive"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "m=audio 9 UDP/TLS/RTP/SAVPF ") {
		t.Errorf("m= line not passed through:\n%s", out)
	}
	if strings.Contains(out, "203.0.113.9") {
		t.Errorf("the party's relay candidate was passed on:\n%s", out)
	}
	if !strings.Contains(out, "127.0.0.5 50000 typ host") {
		t.Errorf("the party's host candidate is missing:\n%s", out)
	}
	relays := 0
	for _, l := range attrLines(out, "a=candidate:") {
		if strings.Contains(l, " 127.0.0.77 ") && strings.Contains(l, " typ relay raddr 127.0.0.77 ") {
			relays++
		}
	}
	if relays == 0 {
		t.Errorf("no relay candidate of ours:\n%s", out)
	}
}
