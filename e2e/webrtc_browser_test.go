package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// browserDaemons are the media daemons the browser test drives.
var browserDaemons = []string{"rtpengine", "mediad"}

// TestWebRTCBrowserToPhone: headless Chromium (playwright-core, fake
// microphone) offers audio from a page on localhost; the test relays the
// offer over NG with the seed's browser-to-phone flags to a plain RTP
// "phone" socket and the phone's answer back, then checks RTP reaches the
// phone and the browser's getStats counts inbound-rtp packets. It runs in
// a network namespace of its own (browsertest.Enter) with a veth address
// the media daemon also listens on.
//
// Flags: the seed sends `RTP/AVP replace-session-connection replace-origin
// ICE=remove` on the offer and `UDP/TLS/RTP/SAVPF ICE=force` on the answer.
// With only those, rtpengine 10.5 answers the browser without a=rtcp-mux
// and Chromium rejects the answer; a proxy must add `rtcp-mux-demux` to the
// offer and `rtcp-mux-require` to the answer, as this test does.
func TestWebRTCBrowserToPhone(t *testing.T) {
	if inside, _ := browsertest.Enter(t, browsertest.Netns{Timeout: 5 * time.Minute}); !inside {
		return
	}
	web := browsertest.WebDir(t)
	for _, name := range browserDaemons {
		t.Run(name, func(t *testing.T) {
			opts := daemon.Options{PortMin: 30000, PortMax: 30999, Extra: []string{"-i", browsertest.VethAddr}}
			_, opts = daemon.ByNameTB(t, name, opts)
			t.Run("browser-offers", func(t *testing.T) { browserCall(t, web, opts.NG, false, false) })
			t.Run("phone-offers", func(t *testing.T) { browserCall(t, web, opts.NG, true, false) })
			// The daemon as an ICE-lite agent toward the browser (the
			// offer's ICE-lite=forward): Chromium must take the
			// controlling role, run the checks and nominate.
			t.Run("phone-offers-ice-lite", func(t *testing.T) { browserCall(t, web, opts.NG, true, true) })
		})
	}
}

var mLine = regexp.MustCompile(`(?m)^m=audio (\d+) `)

// browserCall runs one call between the page and the phone socket; with
// phoneOffers the phone's offer goes to the browser, else the browser
// offers. With lite the daemon is an ICE-lite agent toward the browser.
func browserCall(t *testing.T, web, ngAddr string, phoneOffers, lite bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ng, err := ngproto.Dial(ngAddr, ngproto.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	conn := testport.UDP(t)
	phoneAddr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	// The phone starts talking once it knows the daemon's port.
	mediaPort := make(chan netip.AddrPort, 1)
	phone := browsertest.StartPhone(ctx, conn, mediaPort)

	callID := "browser-call-" + strconv.FormatBool(phoneOffers) + "-" + strconv.FormatBool(lite)
	sig := browsertest.Signalling{
		Offer: func(offer string) (string, error) {
			answer, toPhone, err := bridgeOffer(ctx, ng, callID, offer, phoneAddr)
			if err != nil {
				return "", err
			}
			mediaPort <- toPhone
			return answer, nil
		},
		RemoteOffer: func() (string, error) {
			toBrowser, err := phoneOffer(ctx, ng, callID, phoneAddr, lite)
			if err == nil && lite != strings.Contains(toBrowser, "\r\na=ice-lite\r\n") {
				err = fmt.Errorf("ICE-lite %v, yet the offer toward the browser says otherwise:\n%s", lite, toBrowser)
			}
			return toBrowser, err
		},
		Answer: func(answer string) error {
			toPhone, err := browserAnswer(ctx, ng, callID, answer)
			if err != nil {
				return err
			}
			mediaPort <- toPhone
			return nil
		},
		// The browser renegotiates mid-call (as a re-INVITE for hold
		// does): whichever side offered first, its actpass re-offer
		// must be answered with the DTLS role it already has, which
		// Chromium insists on ("SSL role can't be reversed").
		Reoffer: func(offer string) (string, error) {
			answer, _, err := bridgeOffer(ctx, ng, callID, offer, phoneAddr)
			return answer, err
		},
		// Then the browser restarts ICE (a network change): the daemon
		// answers with new credentials of its own and its agent runs
		// the checks again with them.
		ICERestart: true,
	}
	res := browsertest.AudioCall(ctx, t, web, sig, phoneOffers, 90*time.Second)
	t.Logf("browser: %+v", res)
	if res.Inbound == 0 {
		t.Fatal("browser getStats: no inbound-rtp packets")
	}
	if !res.Reoffered || res.InboundAfter < res.Inbound+10 {
		t.Fatalf("after the browser's re-offer: applied %v, inbound-rtp %d -> %d (want 10 more)", res.Reoffered, res.Inbound, res.InboundAfter)
	}
	if !res.NewRemoteUfrag || res.PairChanges < 1 || res.InboundAfterRestart < res.InboundAfter+10 {
		t.Fatalf("after the browser's ICE restart: new credentials in the answer %v, candidate pair selected %d times, inbound-rtp %d -> %d (want 10 more)",
			res.NewRemoteUfrag, res.PairChanges, res.InboundAfter, res.InboundAfterRestart)
	}
	if phone.Received() == 0 {
		t.Fatal("the phone received no RTP from the browser")
	}
	q, err := ng.Do(ctx, ngproto.Dict{"command": "query", "call-id": callID})
	if err != nil {
		t.Fatalf("NG query: %v", err)
	}
	checkBrowserParty(t, q)
	if media, _ := partyFlags(q, "browser"); lite && slices.Contains(media, "ICE controlling") {
		t.Errorf("ICE-lite toward the browser, yet its media flags %q say we control", media)
	}
	_, _ = ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": callID})
}

// checkBrowserParty checks what the daemon's query says of the browser
// after a call: DTLS-SRTP and ICE toward it, SDES dropped once DTLS ran,
// and its RTP stream's DTLS fingerprint verified.
func checkBrowserParty(t *testing.T, q ngproto.Dict) {
	t.Helper()
	media, rtp := partyFlags(q, "browser")
	for _, f := range []string{"DTLS-SRTP", "ICE"} {
		if !slices.Contains(media, f) {
			t.Errorf("browser media flags %q lack %q", media, f)
		}
	}
	if slices.Contains(media, "SDES") {
		t.Errorf("browser media flags %q still show SDES after the DTLS handshake", media)
	}
	if !slices.Contains(rtp, "DTLS fingerprint verified") {
		t.Errorf("browser RTP stream flags %q lack \"DTLS fingerprint verified\"", rtp)
	}
}

// bridgeOffer sends the browser's offer and the phone's answer through NG
// with the seed's flags (plus the rtcp-mux flags Chromium needs) and
// returns the browser's answer and where the phone must send RTP.
func bridgeOffer(ctx context.Context, ng *ngproto.Client, callID, offerSDP string, phone netip.AddrPort) (string, netip.AddrPort, error) {
	r, err := ng.Do(ctx, ngproto.Dict{
		"command": "offer", "call-id": callID, "from-tag": "browser", "sdp": offerSDP,
		"ICE": "remove", "transport-protocol": "RTP/AVP", "replace": []any{"session-connection", "origin"},
		"rtcp-mux": []any{"demux"}, "received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG offer: %w", err)
	}
	toPhone, err := replySDP(r)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG offer: %w", err)
	}
	media, err := mediaAddr(toPhone)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	r, err = ng.Do(ctx, ngproto.Dict{
		"command": "answer", "call-id": callID, "from-tag": "browser", "to-tag": "phone", "sdp": phoneSDP(phone),
		"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF", "rtcp-mux": []any{"require"},
		"received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	toBrowser, err := replySDP(r)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	return toBrowser, media, nil
}

// phoneOffer sends the phone's offer toward the browser (phone-to-browser
// flags of the seed plus rtcp-mux-require; with lite ICE-lite=forward) and
// returns the browser's SDP.
func phoneOffer(ctx context.Context, ng *ngproto.Client, callID string, phone netip.AddrPort, lite bool) (string, error) {
	req := ngproto.Dict{
		"command": "offer", "call-id": callID, "from-tag": "phone", "sdp": phoneSDP(phone),
		"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF", "rtcp-mux": []any{"require"},
		"received-from": []any{"IP4", "127.0.0.1"},
	}
	if lite {
		req["ICE-lite"] = "forward"
	}
	r, err := ng.Do(ctx, req)
	if err != nil {
		return "", fmt.Errorf("NG offer: %w", err)
	}
	return replySDP(r)
}

// browserAnswer sends the browser's answer toward the phone and returns
// where the phone must send RTP.
func browserAnswer(ctx context.Context, ng *ngproto.Client, callID, answerSDP string) (netip.AddrPort, error) {
	r, err := ng.Do(ctx, ngproto.Dict{
		"command": "answer", "call-id": callID, "from-tag": "phone", "to-tag": "browser", "sdp": answerSDP,
		"ICE": "remove", "transport-protocol": "RTP/AVP", "replace": []any{"session-connection", "origin"},
		"rtcp-mux": []any{"demux"}, "received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	toPhone, err := replySDP(r)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	return mediaAddr(toPhone)
}

func phoneSDP(phone netip.AddrPort) string {
	return fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 %[1]s\r\ns=phone\r\nc=IN IP4 %[1]s\r\nt=0 0\r\n"+
		"m=audio %[2]d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", phone.Addr(), phone.Port())
}

// mediaAddr is where the daemon receives the phone's RTP, from the SDP it
// wrote for the phone (loopback: the first -i address).
func mediaAddr(sdp string) (netip.AddrPort, error) {
	m := mLine.FindStringSubmatch(sdp)
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("no m=audio in the SDP for the phone:\n%s", sdp)
	}
	port, _ := strconv.Atoi(m[1])
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), nil
}

func replySDP(r ngproto.Dict) (string, error) {
	if res := r.Result(); res != "ok" {
		reason, _ := r.Get("error-reason")
		return "", fmt.Errorf("result %q: %v", res, reason)
	}
	v, _ := r.Get("sdp")
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("reply has no sdp: %v", r)
}
