package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/ngcmp"
)

// Browser SDPs as Chromium and Firefox write them (trimmed to audio).
var (
	// sdpChromeAnswer is Chromium answering an offer from the daemon.
	sdpChromeAnswer = sdp(`
v=0
o=- 2890844526 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 0 101
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 127.0.0.5 50004 typ host generation 0 network-id 1
a=ice-ufrag:Ch4n
a=ice-pwd:Y2hyb21lYW5zd2VycGFzc3dvcmQ
a=ice-options:trickle
a=fingerprint:sha-256 1D:A4:6B:33:7D:0E:0C:66:85:2F:47:E8:8E:C6:2C:55:C2:1F:04:86:6A:3B:97:35:2A:8E:62:0D:A6:88:49:14
a=setup:active
a=mid:0
a=sendrecv
a=msid:- 9f3c2a61-3c52-4a3d-9c59-0b1a7c51f0a2
a=rtcp-mux
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=ssrc:2002 cname:qrstuvwxyzabcdef
`)
	// sdpFirefox is a Firefox offer: fingerprint and ice-options at session
	// level, credentials and setup in the media section, sha-256.
	sdpFirefox = sdp(`
v=0
o=mozilla...THIS_IS_SDPARTA-99.0 6103224185939409421 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 4A:B5:1C:80:6E:2D:91:0F:E4:7B:33:C8:12:9A:5D:F0:77:2E:B4:61:0C:DA:93:58:1F:46:A7:E0:3B:89:C2:55
a=group:BUNDLE 0
a=ice-options:trickle
a=msid-semantic:WMS *
m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101
c=IN IP4 0.0.0.0
a=candidate:0 1 UDP 2122252543 127.0.0.7 52000 typ host
a=candidate:1 1 TCP 2105524479 127.0.0.7 9 typ host tcptype active
a=sendrecv
a=end-of-candidates
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1
a=fmtp:101 0-15
a=ice-pwd:ZmlyZWZveHBhc3N3b3JkZmlyZWZveA
a=ice-ufrag:ff01ab23
a=mid:0
a=msid:{0b7c7c21-5f5e-4c4e-8e66-2b0d6cbd0f57} {a1b2c3d4-e5f6-4711-8899-aabbccddeeff}
a=rtcp-mux
a=rtpmap:109 opus/48000/2
a=rtpmap:9 G722/8000/1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=setup:actpass
a=ssrc:3003 cname:{c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f}
`)
)

// The seed's flag strings, as OpenSIPS translates them (ng-protocol.md §3).
var (
	seedB2B    = kv{"ICE": "force-relay", "DTLS": "passive"}
	seedToRTP  = kv{"transport-protocol": "RTP/AVP", "replace": []string{"session-connection", "origin"}, "ICE": "remove"}
	seedToWeb  = kv{"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force"}
	muxDemux   = kv{"rtcp-mux": []string{"demux"}}
	muxRequire = kv{"rtcp-mux": []string{"require"}}
)

// webrtcSeedScenarios are the seed's four cases with its literal flags,
// the same with the rtcp-mux flags browsers need, and Chrome- and
// Firefox-like offers in each direction.
func webrtcSeedScenarios() []scenario {
	return []scenario{
		{name: "seed-browser-to-browser", desc: "seed: ICE=force-relay DTLS=passive both ways",
			steps: []step{
				st("offer", offer("s-b2b", "ta", sdpBrowser, seedB2B)),
				st("offered", query("s-b2b", nil)),
				st("answer", answer("s-b2b", "ta", "tb", sdpChromeAnswer, seedB2B)),
				st("query", query("s-b2b", nil)),
			},
			allow: []ngcmp.Allowance{passthroughSuite}},
		{name: "seed-browser-to-phone", desc: "seed: browser offer to RTP/AVP, phone answer to UDP/TLS/RTP/SAVPF",
			steps: []step{
				st("offer", offer("s-b2p", "ta", sdpBrowser, seedToRTP)),
				st("offered", query("s-b2p", nil)),
				st("answer", answer("s-b2p", "ta", "tb", sdpPhone, seedToWeb)),
				st("query", query("s-b2p", nil)),
			}},
		{name: "seed-phone-to-browser", desc: "seed: phone offer to UDP/TLS/RTP/SAVPF, browser answer to RTP/AVP",
			steps: []step{
				st("offer", offer("s-p2b", "ta", sdpPhone, seedToWeb)),
				st("offered", query("s-p2b", nil)),
				st("answer", answer("s-p2b", "ta", "tb", sdpChromeAnswer, seedToRTP)),
				st("query", query("s-p2b", nil)),
			}},
		{name: "seed-phone-to-phone", desc: "seed: RTP/AVP replace-session-connection replace-origin ICE=remove both ways",
			steps: []step{
				st("offer", offer("s-p2p", "ta", sdpPhone, seedToRTP)),
				st("answer", answer("s-p2p", "ta", "tb", sdpB, seedToRTP)),
				st("query", query("s-p2p", nil)),
			}},
		{name: "chrome-to-phone-mux", desc: "Chrome offer to a phone with rtcp-mux demux / require",
			steps: []step{
				st("offer", offer("s-c2p", "ta", sdpBrowser, merge(seedToRTP, muxDemux))),
				st("answer", answer("s-c2p", "ta", "tb", sdpPhone, merge(seedToWeb, muxRequire))),
				st("query", query("s-c2p", nil)),
			}},
		{name: "phone-to-chrome-mux", desc: "phone offer to Chrome with rtcp-mux require / demux",
			steps: []step{
				st("offer", offer("s-p2c", "ta", sdpPhone, merge(seedToWeb, muxRequire))),
				st("answer", answer("s-p2c", "ta", "tb", sdpChromeAnswer, merge(seedToRTP, muxDemux))),
				st("query", query("s-p2c", nil)),
			}},
		{name: "phone-to-chrome-reinvites", desc: "phone calls Chrome; the phone re-offers (hold), then Chrome re-offers",
			steps: []step{
				st("offer", offer("s-p2cr", "ta", sdpPhone, merge(seedToWeb, muxRequire))),
				st("answer", answer("s-p2cr", "ta", "tb", sdpChromeAnswer, merge(seedToRTP, muxDemux))),
				st("hold", offer("s-p2cr", "ta", sdpPhoneHold, merge(seedToWeb, muxRequire))),
				st("held", answer("s-p2cr", "ta", "tb", sdpChromeHeld, merge(seedToRTP, muxDemux))),
				st("held-query", query("s-p2cr", nil)),
				st("browser-reoffer", offer("s-p2cr", "tb", sdpChromeReoffer, merge(seedToRTP, muxDemux))),
				st("phone-reanswer", answer("s-p2cr", "tb", "ta", sdpPhone, merge(seedToWeb, muxRequire))),
				st("query", query("s-p2cr", nil)),
			}},
		{name: "phone-to-chrome-ice-restart", desc: "a phone calls Chrome, then Chrome re-offers with an ICE restart",
			steps: []step{
				st("offer", offer("s-p2cx", "ta", sdpPhone, merge(seedToWeb, muxRequire))),
				st("answer", answer("s-p2cx", "ta", "tb", sdpChromeAnswer, merge(seedToRTP, muxDemux))),
				st("restart", offer("s-p2cx", "tb", sdpChromeRestart, merge(seedToRTP, muxDemux))),
				st("reanswer", answer("s-p2cx", "tb", "ta", sdpPhone, merge(seedToWeb, muxRequire))),
				st("query", query("s-p2cx", nil)),
			}},
		{name: "chrome-to-phone-plain-reoffer", desc: "Chrome calls a phone; the phone holds with the seed's strings alone: mux in use is kept (one port)",
			steps: []step{
				st("offer", offer("s-c2pp", "ta", sdpBrowser, merge(seedToRTP, muxDemux))),
				st("answer", answer("s-c2pp", "ta", "tb", sdpPhone, merge(seedToWeb, muxRequire))),
				st("hold", offer("s-c2pp", "tb", sdpPhoneHold, seedToWeb)),
				st("held", answer("s-c2pp", "tb", "ta", sdpBrowserHeld, seedToRTP)),
				st("query", query("s-c2pp", nil)),
			}},
		{name: "mux-phones-reoffer", desc: "two phones agree on rtcp-mux without flags; each re-offers: mux in use is forced",
			steps: []step{
				st("offer", offer("s-mux", "ta", sdpPhoneMux, nil)),
				st("offered", query("s-mux", nil)),
				st("answer", answer("s-mux", "ta", "tb", sdpPhoneMuxB, nil)),
				st("reoffer", offer("s-mux", "ta", sdpPhoneMux, nil)),
				st("reanswer", answer("s-mux", "ta", "tb", sdpPhoneMuxB, nil)),
				st("b-reoffer", offer("s-mux", "tb", sdpPhoneMuxB, nil)),
				st("query", query("s-mux", nil)),
			}},
		{name: "mux-accept", desc: "a phone offers rtcp-mux with rtcp-mux-accept: one port toward it, a pair toward a phone without mux",
			steps: []step{
				st("offer", offer("s-mxa", "ta", sdpPhoneMux, kv{"rtcp-mux": []string{"accept"}})),
				st("offered", query("s-mxa", nil)),
				st("answer", answer("s-mxa", "ta", "tb", sdpB, nil)),
				st("query", query("s-mxa", nil)),
			}},
		{name: "browser-to-browser-reinvites", desc: "seed browser-to-browser; the called browser holds, then the caller re-offers",
			steps: []step{
				st("offer", offer("s-b2br", "ta", sdpBrowser, seedB2B)),
				st("answer", answer("s-b2br", "ta", "tb", sdpChromeAnswer, seedB2B)),
				st("hold", offer("s-b2br", "tb", strings.Replace(sdpChromeReoffer, "a=sendrecv", "a=sendonly", 1), seedB2B)),
				st("held", answer("s-b2br", "tb", "ta", sdpBrowserHeld, seedB2B)),
				st("caller-reoffer", offer("s-b2br", "ta", strings.Replace(sdpBrowser, " 2 IN IP4", " 5 IN IP4", 1), seedB2B)),
				st("reanswer", answer("s-b2br", "ta", "tb", strings.Replace(sdpChromeAnswer, " 2 IN IP4", " 6 IN IP4", 1), seedB2B)),
				st("query", query("s-b2br", nil)),
			},
			allow: []ngcmp.Allowance{passthroughSuite}},
		{name: "chrome-to-phone-ice-restart", desc: "Chrome calls a phone, then re-offers with an ICE restart",
			steps: []step{
				st("offer", offer("s-c2pr", "ta", sdpBrowser, merge(seedToRTP, muxDemux))),
				st("answer", answer("s-c2pr", "ta", "tb", sdpPhone, merge(seedToWeb, muxRequire))),
				st("restart", offer("s-c2pr", "ta", sdpBrowserRestart, merge(seedToRTP, muxDemux))),
				st("reanswer", answer("s-c2pr", "ta", "tb", sdpPhone, merge(seedToWeb, muxRequire))),
				st("query", query("s-c2pr", nil)),
			}},
		{name: "sdes-phone-to-chrome", desc: "a phone offering SDES calls Chrome (DTLS), then holds",
			steps: []step{
				st("offer", offer("s-sp2c", "ta", sdpPhoneSDES, merge(seedToWeb, muxRequire))),
				st("answer", answer("s-sp2c", "ta", "tb", sdpChromeAnswer, merge(merge(seedToRTP, muxDemux), kv{"transport-protocol": "RTP/SAVP"}))),
				st("hold", offer("s-sp2c", "ta", sdpPhoneSDESHold, merge(seedToWeb, muxRequire))),
				st("held", answer("s-sp2c", "ta", "tb", sdpChromeHeld, merge(merge(seedToRTP, muxDemux), kv{"transport-protocol": "RTP/SAVP"}))),
				st("query", query("s-sp2c", nil)),
			}},
		{name: "firefox-to-phone-mux", desc: "Firefox offer (session-level fingerprint and ice-options) to a phone",
			steps: []step{
				st("offer", offer("s-f2p", "ta", sdpFirefox, merge(seedToRTP, muxDemux))),
				st("answer", answer("s-f2p", "ta", "tb", sdpPhone, merge(seedToWeb, muxRequire))),
				st("query", query("s-f2p", nil)),
			},
			allow: firefoxTrickle},
		{name: "firefox-dtls-passive", desc: "Firefox offer answered with DTLS=passive",
			steps: []step{
				st("offer", offer("s-fpass", "ta", sdpFirefox, merge(seedToRTP, muxDemux))),
				st("answer", answer("s-fpass", "ta", "tb", sdpPhone, merge(merge(seedToWeb, muxRequire), kv{"DTLS": "passive"}))),
				st("query", query("s-fpass", nil)),
			},
			allow: firefoxTrickle},
	}
}

// firefoxTrickle: Firefox announces trickle ICE at session level
// (a=ice-options:trickle before the m= line; RFC 8840 allows both
// levels). rtpengine 10.5 reads it only in the media section, so it takes
// Firefox's c=0.0.0.0 (the trickle placeholder) for hold: the phone is
// offered sendonly and c=0.0.0.0 and would never send to the browser; the
// end-of-candidates Firefox sent is copied toward the phone even with ICE
// removed; and the answer to Firefox says nothing of trickle. mediad
// reads both levels: a two-way call, no ICE lines toward the phone, and
// trickle kept toward Firefox. Exactly these lines are allowed.
var firefoxTrickle = []ngcmp.Allowance{
	{Step: "query", Path: `tags\.ta\.medias\[0\]\.flags\[\d+\]`, Value: `trickle ICE`,
		Reason: "Firefox announced trickle ICE at session level; rtpengine reads ice-options only per media"},
	{Step: "offer", Path: `sdp@\d+`, Value: `^(c=IN IP4 (0\.0\.0\.0|127\.0\.0\.1)|a=(sendonly|sendrecv)|a=end-of-candidates)$`,
		Reason: "rtpengine takes Firefox's session-level trickle c=0.0.0.0 for hold and copies end-of-candidates toward a phone without ICE; mediad keeps the call two-way"},
	{Step: "answer", Path: `sdp@\d+`, Value: `^a=(ice-options:trickle|end-of-candidates)$`,
		Reason: "Firefox announced trickle ICE at session level; rtpengine reads ice-options only per media"},
}

var (
	// sdpBrowserHeld is sdpBrowser's party answering a hold: same ICE
	// credentials, DTLS passive as it was after our first answer.
	sdpBrowserHeld = strings.NewReplacer("a=sendrecv", "a=recvonly", "a=setup:actpass", "a=setup:passive",
		" 2 IN IP4", " 3 IN IP4").Replace(sdpBrowser)
	// sdpBrowserRestart is sdpBrowser's party re-offering with an ICE
	// restart (new credentials).
	sdpBrowserRestart = strings.NewReplacer("a=ice-ufrag:Xy7q", "a=ice-ufrag:R2st", "a=ice-pwd:Qm9vZGxlQm9vZGxlQm9vZGxlQm9v",
		"a=ice-pwd:UmVzdGFydFJlc3RhcnRSZXN0YXJ0", " 2 IN IP4", " 4 IN IP4").Replace(sdpBrowser)
	// sdpPhoneMux and sdpPhoneMuxB are phones that multiplex RTCP.
	sdpPhoneMux  = strings.Replace(sdpPhone, "a=sendrecv\r\n", "a=sendrecv\r\na=rtcp-mux\r\n", 1)
	sdpPhoneMuxB = strings.Replace(strings.Replace(sdpPhoneMux, "127.0.0.6", "127.0.0.7", -1), "4000", "4100", 1)
	// sdpPhoneSDES is a phone offering SDES-SRTP; sdpPhoneSDESHold its
	// hold with the same key.
	sdpPhoneSDES = strings.NewReplacer("RTP/AVP", "RTP/SAVP", "a=sendrecv\r\n",
		"a=sendrecv\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n").Replace(sdpPhone)
	sdpPhoneSDESHold = strings.Replace(strings.Replace(sdpPhoneSDES, "a=sendrecv", "a=sendonly", 1), "8000 8001", "8000 8002", 1)
	// sdpPhoneHold is sdpPhone putting the call on hold.
	sdpPhoneHold = strings.Replace(strings.Replace(sdpPhone, "a=sendrecv", "a=sendonly", 1), "8000 8001", "8000 8002", 1)
	// sdpChromeHeld is Chrome's answer to a hold; sdpChromeReoffer its
	// own re-offer (setup actpass, same ICE credentials and fingerprint).
	sdpChromeHeld    = strings.Replace(strings.Replace(sdpChromeAnswer, "a=sendrecv", "a=recvonly", 1), " 2 IN IP4", " 3 IN IP4", 1)
	sdpChromeReoffer = strings.Replace(strings.Replace(sdpChromeAnswer, "a=setup:active", "a=setup:actpass", 1), " 2 IN IP4", " 4 IN IP4", 1)
	// sdpChromeRestart is sdpChromeReoffer with new ICE credentials.
	sdpChromeRestart = strings.NewReplacer("a=ice-ufrag:Ch4n", "a=ice-ufrag:Rs7t", "a=ice-pwd:Y2hyb21lYW5zd2VycGFzc3dvcmQ",
		"a=ice-pwd:cmVzdGFydGVkcmVzdGFydGVkcmVz", " 4 IN IP4", " 5 IN IP4").Replace(sdpChromeReoffer)
)

// passthroughSuite: rtpengine makes SDES keys toward the answerer before
// it switches the media to passthrough and reports their suite on the
// answerer's streams; in passthrough mediad makes none, and none are sent.
var passthroughSuite = ngcmp.Allowance{Step: "offered|query", Path: `tags\.[^.]+\.medias\[0\]\.streams\[\d\]\.crypto suite`,
	Reason: "rtpengine reports the suite of SDES keys it generated but never sent in passthrough"}

// TestWebRTCConformance sends the WebRTC scenarios to rtpengine and mediad
// and compares the replies as TestConformance does (same normalisation,
// same port ranges; the daemons of the two tests never run together).
func TestWebRTCConformance(t *testing.T) {
	if !daemon.HaveRtpengine() {
		t.Skipf("skipping: %s is not installed (apt-get install rtpengine-daemon)", daemon.RtpenginePath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rp, ro := daemon.RtpengineTB(t, daemon.Options{PortMin: rtpePortMin, PortMax: rtpePortMax})
	rtpe := newSide(t, "rtpengine", rp, ro)
	mp, mo := daemon.MediadTB(t, daemon.Options{PortMin: mediadPortMin, PortMax: mediadPortMax})
	med := newSide(t, "mediad", mp, mo)
	for _, sc := range webrtcSeedScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			rres := rtpe.run(ctx, t, sc)
			mres := med.run(ctx, t, sc)
			compareSides(t, sc, rres, mres)
		})
	}
}
