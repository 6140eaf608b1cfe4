package e2e

var (
	// sdpBrowser is a WebRTC offer as a browser sends it (ICE, DTLS,
	// rtcp-mux, BUNDLE), with a loopback host candidate.
	sdpBrowser = sdp(`
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:3079412346 1 udp 2122260223 127.0.0.5 50000 typ host generation 0 network-id 1
a=ice-ufrag:Xy7q
a=ice-pwd:Qm9vZGxlQm9vZGxlQm9vZGxlQm9v
a=ice-options:trickle
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=sendrecv
a=msid:- 4b0b1b5e-0f6c-4bd4-9a41-7a0e9d3f1d6b
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:abcdefghijklmnop
`)
	// sdpPhone is a plain SIP phone, used as the WebRTC call's other side.
	sdpPhone = sdp(`
v=0
o=phone 8000 8001 IN IP4 127.0.0.6
s=SIP Call
t=0 0
m=audio 4000 RTP/AVP 0 8 101
c=IN IP4 127.0.0.6
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
`)
	sdpExplicitRTCP = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2070 RTP/AVP 0
c=IN IP4 127.0.0.2
a=rtcp:2079 IN IP4 127.0.0.5
a=sendrecv
`)
	sdpSessSendonly = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.2
s=tester
t=0 0
a=sendonly
m=audio 2000 RTP/AVP 0 8
c=IN IP4 127.0.0.2
`)
)

func webrtcScenarios() []scenario {
	return []scenario{
		{
			name: "webrtc-browser-to-phone",
			desc: "browser offer bridged to plain RTP (ICE remove, DTLS off, rtcp-mux demux), phone answer bridged back to WebRTC",
			steps: []step{
				st("offer", offer("c-wb2p", "ta", sdpBrowser, kv{
					"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": []string{"demux"},
					"flags": []string{"trust-address"}, "replace": []string{"origin"},
				})),
				st("answer", answer("c-wb2p", "ta", "tb", sdpPhone, kv{
					"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": []string{"require"},
				})),
				st("query", query("c-wb2p", nil)),
			},
		},
		{
			name: "webrtc-phone-to-browser-ice-lite",
			desc: "phone offer bridged to WebRTC with ICE-lite=forward: a=ice-lite toward the browser, not ICE controlling toward it",
			steps: []step{
				st("offer", offer("c-wp2bl", "ta", sdpPhone, kv{
					"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "ICE-lite": "forward",
					"rtcp-mux": []string{"offer", "require"}, "SDES": []string{"off"},
				})),
				st("answer", answer("c-wp2bl", "ta", "tb", sdpBrowserAnswer, kv{
					"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": []string{"demux"},
				})),
				st("query", query("c-wp2bl", nil)),
			},
		},
		{
			name: "webrtc-browser-to-phone-ice-lite",
			desc: "browser offer bridged to plain RTP with ICE-lite=backward: the answer toward the browser carries a=ice-lite; a re-offer with ICE-lite=off takes it away",
			steps: []step{
				st("offer", offer("c-wb2pl", "ta", sdpBrowser, kv{
					"transport-protocol": "RTP/AVP", "ICE": "remove", "ICE-lite": "backward", "rtcp-mux": []string{"demux"},
				})),
				st("answer", answer("c-wb2pl", "ta", "tb", sdpPhone, kv{
					"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": []string{"require"},
				})),
				st("query", query("c-wb2pl", nil)),
				st("reoffer", offer("c-wb2pl", "ta", sdpBrowser, kv{
					"transport-protocol": "RTP/AVP", "ICE": "remove", "ICE-lite": "off", "rtcp-mux": []string{"demux"},
				})),
				st("reanswer", answer("c-wb2pl", "ta", "tb", sdpPhone, kv{
					"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": []string{"require"},
				})),
			},
		},
		{
			name: "webrtc-phone-to-browser",
			desc: "plain offer bridged to WebRTC (UDP/TLS/RTP/SAVPF, ICE force, rtcp-mux offer+require, SDES off), browser answer back to plain",
			steps: []step{
				st("offer", offer("c-wp2b", "ta", sdpPhone, kv{
					"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force",
					"rtcp-mux": []string{"offer", "require"}, "SDES": []string{"off"},
					"flags": []string{"generate-mid"},
				})),
				st("offered", query("c-wp2b", nil)),
				st("answer", answer("c-wp2b", "ta", "tb", sdpBrowserAnswer, kv{
					"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": []string{"demux"},
				})),
				st("query", query("c-wp2b", nil)),
			},
		},
		{
			name: "reinvite-with-to-tag",
			desc: "in-dialog re-INVITE as proxies send it: offer carrying the to-tag",
			steps: []step{
				st("offer", offer("c-reinvtt", "ta", sdpA, nil)),
				st("answer", answer("c-reinvtt", "ta", "tb", sdpB, nil)),
				st("reoffer", offer("c-reinvtt", "ta", sdpASendonly, kv{"to-tag": "tb"})),
				st("reanswer", answer("c-reinvtt", "ta", "tb", sdpBRecvonly, nil)),
			},
		},
		{
			name: "explicit-rtcp-address",
			desc: "RFC 3605 a=rtcp with its own port and address in the input",
			steps: []step{
				st("offer", offer("c-rtcpaddr", "ta", sdpExplicitRTCP, nil)),
				st("answer", answer("c-rtcpaddr", "ta", "tb", sdpB, nil)),
				st("query", query("c-rtcpaddr", nil)),
			},
		},
		{
			name: "ice-default-passthrough",
			desc: "an ICE offer without ICE flags: the daemon replaces the candidates with its own",
			steps: []step{
				st("offer", offer("c-icedef", "ta", sdpAICE, nil)),
				st("answer", answer("c-icedef", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "session-level-sendonly",
			desc: "hold expressed by a session-level a=sendonly",
			steps: []step{
				st("offer", offer("c-sesssendonly", "ta", sdpA, nil)),
				st("answer", answer("c-sesssendonly", "ta", "tb", sdpB, nil)),
				st("hold", offer("c-sesssendonly", "ta", sdpSessSendonly, nil)),
			},
		},
		{
			name: "t38-image-stream",
			desc: "fax re-INVITE: audio rejected, m=image udptl t38 with session-level c= (rtpengine gh #686)",
			steps: []step{
				st("offer", offer("c-t38", "ta", sdpA, nil)),
				st("answer", answer("c-t38", "ta", "tb", sdpB, nil)),
				st("reoffer-t38", offer("c-t38", "ta", sdpT38, kv{"ICE": "remove"})),
				st("reanswer-t38", answer("c-t38", "ta", "tb", sdpT38Answer, nil)),
			},
		},
		{
			name: "sdes-passthrough",
			desc: "SDES offer and answer passed through (DTLS off): the daemon offers its own keys per suite",
			steps: []step{
				st("offer", offer("c-sdespass", "ta", sdpASDES, kv{"ICE": "remove", "DTLS": "off"})),
				st("offered", query("c-sdespass", nil)),
				st("answer", answer("c-sdespass", "ta", "tb", sdpBSDES, kv{"ICE": "remove"})),
				st("query", query("c-sdespass", nil)),
			},
		},
		{
			name: "codec-strip",
			desc: "codec strip and mask without transcoding",
			steps: []step{
				st("offer", offer("c-codec", "ta", sdpA, kv{"codec": kv{"strip": []any{"PCMA"}}})),
				st("answer", answer("c-codec", "ta", "tb", sdpB, nil)),
				st("offer2", offer("c-codec2", "ta", sdpRich, kv{"codec": kv{"strip": []any{"opus", "AMR-WB"}, "mask": []any{"G729"}}})),
			},
		},
	}
}

// sdpBrowserAnswer is the browser's answer to an offer from the daemon.
var sdpBrowserAnswer = sdp(`
v=0
o=- 5520130521296237519 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 1
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 0 101
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 127.0.0.5 50002 typ host generation 0
a=ice-ufrag:Ab3d
a=ice-pwd:Zm9vYmFyZm9vYmFyZm9vYmFyZm9v
a=ice-options:trickle
a=fingerprint:sha-256 1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09
a=setup:active
a=mid:1
a=sendrecv
a=rtcp-mux
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
`)

var (
	sdpT38 = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.2
s=tester
t=0 0
c=IN IP4 127.0.0.2
m=audio 0 RTP/AVP 8 101
m=image 2080 udptl t38
c=IN IP4 127.0.0.2
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
`)
	sdpT38Answer = sdp(`
v=0
o=- 2873397496 2 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 0 RTP/AVP 8
c=IN IP4 127.0.0.3
m=image 3080 udptl t38
c=IN IP4 127.0.0.3
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
`)
	sdpASDES = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2090 RTP/SAVP 0
c=IN IP4 127.0.0.2
a=sendrecv
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:VAzLKvoE3jG9cdH/AZsl/ZqWNXrUzyM4Gw6chrFr
`)
	sdpBSDES = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3090 RTP/SAVP 0
c=IN IP4 127.0.0.3
a=sendrecv
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:dfgadgdfgdfgdfgd6AYjs3vKw7CeBdWZCj0isbJv
`)
)
