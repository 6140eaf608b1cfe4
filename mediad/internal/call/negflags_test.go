package call

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Ports testPortBase+5100..5299 are this file's.

// mediaFlags returns the query flags of tag's first media and of its RTP
// stream, and that stream's crypto suite.
func mediaFlags(t *testing.T, r *Registry, id, tag string) (media, stream []string, suite string) {
	t.Helper()
	m := firstMedia(t, r, id, tag)
	return m.Flags, m.Streams[0].Flags, m.Streams[0].CryptoSuite
}

func wantFlags(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s flags:\n got %q\nwant %q", what, got, want)
	}
}

// TestNegotiationFlags: a phone's offer turned into WebRTC shows the
// browser side as rtpengine does before the answer (both DTLS roles, SDES
// and DTLS offered, ICE, the first SDES suite on the streams), and after
// the browser's answer the role it left us; the phone side shows none.
func TestNegotiationFlags(t *testing.T) {
	r, _ := newReg(t, Config{}, testPortBase+5100, testPortBase+5199)
	if _, err := r.Offer(&Params{CallID: "n", FromTag: "p", SDP: phoneSDP, ICE: "force",
		TransportProtocol: "UDP/TLS/RTP/SAVPF", RTCPMux: map[string]bool{"require": true}}); err != nil {
		t.Fatal(err)
	}
	m, s, suite := mediaFlags(t, r, "n", "<untagged 1>")
	wantFlags(t, "offered browser media", m, "send", "recv", "rtcp-mux", "DTLS-SRTP", "DTLS role active",
		"DTLS role passive", "SDES", "ICE", "ICE controlling")
	wantFlags(t, "offered browser stream", s, "RTP", "RTCP", "ICE")
	if suite != "AEAD_AES_256_GCM" {
		t.Errorf("offered browser stream crypto suite %q, want the first offered, AEAD_AES_256_GCM", suite)
	}
	m, _, _ = mediaFlags(t, r, "n", "p")
	wantFlags(t, "phone media", m, "initialized", "send", "recv")

	browserAnswer := strings.NewReplacer("a=setup:actpass", "a=setup:active", "a=group:BUNDLE 0\r\n", "").Replace(browserOfferSDP)
	if _, err := r.Answer(&Params{CallID: "n", FromTag: "p", ToTag: "b", SDP: browserAnswer, ICE: "remove",
		TransportProtocol: "RTP/AVP", RTCPMux: map[string]bool{"demux": true}}); err != nil {
		t.Fatal(err)
	}
	m, s, suite = mediaFlags(t, r, "n", "b")
	// SDES stays as offered, as in rtpengine: only a DTLS packet from
	// the browser says it prefers DTLS.
	wantFlags(t, "answered browser media", m, "initialized", "send", "recv", "rtcp-mux", "DTLS-SRTP",
		"DTLS role passive", "SDES", "ICE", "trickle ICE", "ICE controlling")
	wantFlags(t, "answered browser stream", s, "RTP", "RTCP", "filled", "ICE")
	if suite != "AEAD_AES_256_GCM" {
		t.Errorf("answered browser stream crypto suite %q, want it kept", suite)
	}
	m, _, _ = mediaFlags(t, r, "n", "p")
	wantFlags(t, "phone media after the answer", m, "initialized", "send", "recv")
}

// TestBrowserPortsStayForTheAnswer: an ICE offerer bridged with ICE=remove
// is answered with ICE, so its sockets are bound for ICE in the offer and
// the answer does not move them (rtpengine keeps them too).
func TestBrowserPortsStayForTheAnswer(t *testing.T) {
	r, _ := newReg(t, Config{Interfaces: []Interface{
		{Name: "default", Address: netip.MustParseAddr("127.0.0.77")},
		{Name: "default", Address: netip.MustParseAddr("::1")},
	}}, testPortBase+5100, testPortBase+5199)
	if _, err := r.Offer(&Params{CallID: "k", FromTag: "b", SDP: browserOfferSDP, ICE: "remove",
		TransportProtocol: "RTP/AVP"}); err != nil {
		t.Fatal(err)
	}
	c := r.lookup("k")
	before := c.byTag("b").Medias[0].pair.RTP
	c.mu.Unlock()
	out, err := r.Answer(&Params{CallID: "k", FromTag: "b", ToTag: "p", SDP: phoneSDP, ICE: "force",
		TransportProtocol: "UDP/TLS/RTP/SAVPF"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mediaPorts(t, out)[0]; got != before {
		t.Fatalf("the browser's port moved from %d (offer) to %d (answer)", before, got)
	}
	if !strings.Contains(out, " ::1 ") {
		t.Errorf("answer to the browser lacks the IPv6 candidate:\n%s", out)
	}
}

// TestForcedMuxTakesOnePort: where RTCP is multiplexed for certain a media
// holds one port (rtpengine's proto_num_ports), so a browser-to-phone call
// holds 3 ports; a re-offer without mux flags keeps mux (and the port)
// since it is in use, and one offering RTCP on its own port gets a pair.
func TestForcedMuxTakesOnePort(t *testing.T) {
	r, alloc := newReg(t, Config{}, testPortBase+5200, testPortBase+5299)
	demux := map[string]bool{"demux": true}
	require := map[string]bool{"require": true}
	if _, err := r.Offer(&Params{CallID: "m", FromTag: "b", SDP: browserOfferSDP, ICE: "remove",
		TransportProtocol: "RTP/AVP", RTCPMux: demux}); err != nil {
		t.Fatal(err)
	}
	if n := alloc.InUse(); n != 3 {
		t.Fatalf("after the browser's offer: %d ports in use, want 3 (one for the browser)", n)
	}
	out, err := r.Answer(&Params{CallID: "m", FromTag: "b", ToTag: "p", SDP: phoneSDP, ICE: "force",
		TransportProtocol: "UDP/TLS/RTP/SAVPF", RTCPMux: require})
	if err != nil {
		t.Fatal(err)
	}
	port := mediaPorts(t, out)[0]
	if n := alloc.InUse(); n != 3 || !strings.Contains(out, "a=rtcp:"+strconv.Itoa(port)+"\r\n") ||
		strings.Contains(out, " 2 UDP ") {
		t.Fatalf("answer to the browser (%d ports in use): want mux on port %d, no RTCP candidate:\n%s", n, port, out)
	}
	c := r.lookup("m")
	bm := c.byTag("b").Medias[0]
	single, rtcpPort := bm.pair.Single(), bm.Streams[1].LocalPort
	c.mu.Unlock()
	if !single || rtcpPort != 0 {
		t.Fatalf("browser media: single %v, RTCP local port %d", single, rtcpPort)
	}
	// The phone re-offers with no rtcp-mux flag: mux is in use, so it is
	// forced toward the browser and the port stays.
	out, err = r.Offer(&Params{CallID: "m", FromTag: "p", ToTag: "b", SDP: phoneSDP, ICE: "force",
		TransportProtocol: "UDP/TLS/RTP/SAVPF"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mediaPorts(t, out)[0]; got != port || !strings.Contains(out, "a=rtcp:"+strconv.Itoa(port)+"\r\na=rtcp-mux") {
		t.Fatalf("re-offer to the browser: port %d (was %d), want forced mux:\n%s", got, port, out)
	}
	if n := alloc.InUse(); n != 3 {
		t.Fatalf("after the re-offer: %d ports", n)
	}
}

// toWeb and toPhone set the seed's flags toward a browser and toward a
// phone (with the rtcp-mux flags) on p.
func toWeb(p *Params) *Params {
	p.ICE, p.TransportProtocol, p.RTCPMux = "force", "UDP/TLS/RTP/SAVPF", map[string]bool{"require": true}
	return p
}

func toPhone(p *Params) *Params {
	p.ICE, p.TransportProtocol, p.RTCPMux = "remove", "RTP/AVP", map[string]bool{"demux": true}
	return p
}

// checkBrowserICE checks our ICE role toward party "b" of call id, in the
// query flags and in its ICE agent, and whether the agent is ICE-lite.
func checkBrowserICE(t *testing.T, r *Registry, id, step string, controlling, lite bool) {
	t.Helper()
	m, _, _ := mediaFlags(t, r, id, "b")
	if got := slices.Contains(m, "ICE controlling"); got != controlling {
		t.Errorf("%s: browser media flags %q, want ICE controlling %v", step, m, controlling)
	}
	c := r.lookup(id)
	defer c.mu.Unlock()
	ep := c.byTag("b").Medias[0].secState.eps[0]
	if ep == nil || ep.ICE() == nil {
		t.Fatalf("%s: no ICE agent toward the browser", step)
	}
	if a := ep.ICE(); a.Controlling() != controlling || a.Lite() != lite {
		t.Errorf("%s: ICE agent toward the browser controlling %v lite %v, want %v %v", step, a.Controlling(), a.Lite(), controlling, lite)
	}
}

// TestICERoles: our ICE role toward a browser, in the query flags and in
// its ICE agent. A phone's offer to it makes us controlling; the
// browser's plain re-offer changes no role (RFC 8839 4.4.1); its re-offer
// with new credentials, an ICE restart, makes it the controlling side and
// us controlled, and rtpengine then shows "ICE controlling" on the phone's
// media instead (TestWebRTCConformance's phone-to-chrome-ice-restart).
func TestICERoles(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	check := func(step string, want bool) { t.Helper(); checkBrowserICE(t, r, "ir", step, want, false) }
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	browserAnswer := strings.NewReplacer("a=setup:actpass", "a=setup:active", "a=group:BUNDLE 0\r\n", "").Replace(browserOfferSDP)
	must(r.Offer(toWeb(&Params{CallID: "ir", FromTag: "p", SDP: phoneSDP})))
	must(r.Answer(toPhone(&Params{CallID: "ir", FromTag: "p", ToTag: "b", SDP: browserAnswer})))
	check("after the phone's offer", true)

	reoffer := strings.Replace(browserOfferSDP, "46117 2 IN", "46117 3 IN", 1)
	must(r.Offer(toPhone(&Params{CallID: "ir", FromTag: "b", ToTag: "p", SDP: reoffer})))
	must(r.Answer(toWeb(&Params{CallID: "ir", FromTag: "b", ToTag: "p", SDP: phoneSDP})))
	check("after the browser's plain re-offer", true)

	restart := strings.NewReplacer("46117 2 IN", "46117 4 IN", "a=ice-ufrag:Xy7q", "a=ice-ufrag:Rs7t",
		"a=ice-pwd:Qm9vZGxlQm9vZGxlQm9vZGxlQm9v", "a=ice-pwd:cmVzdGFydGVkcmVzdGFydGVkcmVz").Replace(browserOfferSDP)
	must(r.Offer(toPhone(&Params{CallID: "ir", FromTag: "b", ToTag: "p", SDP: restart})))
	must(r.Answer(toWeb(&Params{CallID: "ir", FromTag: "b", ToTag: "p", SDP: phoneSDP})))
	check("after the browser's ICE restart", false)
	if m, _, _ := mediaFlags(t, r, "ir", "p"); !slices.Contains(m, "ICE controlling") {
		t.Errorf("after the browser's ICE restart: phone media flags %q, want ICE controlling", m)
	}
}

// TestICELite: an offer's ICE-lite=forward makes us an ICE-lite agent
// toward its receiver (a=ice-lite in its SDP, controlled, no checks);
// a later offer with ICE-lite=off makes us a full agent again, controlling
// toward the party we offered to first.
func TestICELite(t *testing.T) {
	r, _ := newRelayReg(t, Config{})
	check := func(step string, lite bool) { t.Helper(); checkBrowserICE(t, r, "il", step, !lite, lite) }
	browserAnswer := strings.NewReplacer("a=setup:actpass", "a=setup:active", "a=group:BUNDLE 0\r\n", "").Replace(browserOfferSDP)
	offer := toWeb(&Params{CallID: "il", FromTag: "p", SDP: phoneSDP, ICELite: "forward"})
	out, err := r.Offer(offer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\r\na=ice-lite\r\nm=audio ") {
		t.Errorf("ICE-lite=forward: no session-level a=ice-lite toward the browser:\n%s", out)
	}
	if _, err := r.Answer(toPhone(&Params{CallID: "il", FromTag: "p", ToTag: "b", SDP: browserAnswer})); err != nil {
		t.Fatal(err)
	}
	check("ICE-lite=forward", true)

	reoffer := strings.Replace(phoneSDP, " 1 IN IP4", " 2 IN IP4", 1)
	out, err = r.Offer(toWeb(&Params{CallID: "il", FromTag: "p", ToTag: "b", SDP: reoffer, ICELite: "off"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "a=ice-lite") {
		t.Errorf("ICE-lite=off: a=ice-lite still offered:\n%s", out)
	}
	if _, err := r.Answer(toPhone(&Params{CallID: "il", FromTag: "p", ToTag: "b", SDP: browserAnswer})); err != nil {
		t.Fatal(err)
	}
	check("ICE-lite=off", false)
}
