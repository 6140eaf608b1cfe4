package e2e

var (
	sdpAMux = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2010 RTP/AVP 0 8
c=IN IP4 127.0.0.2
a=rtcp:2010
a=rtcp-mux
a=sendrecv
`)
	sdpBMux = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3010 RTP/AVP 0
c=IN IP4 127.0.0.3
a=rtcp-mux
a=sendrecv
`)
	sdpASendonly = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2000 RTP/AVP 0 8 101
c=IN IP4 127.0.0.2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendonly
`)
	sdpBRecvonly = sdp(`
v=0
o=- 2873397496 2 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3000 RTP/AVP 0 101
c=IN IP4 127.0.0.3
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=recvonly
`)
	sdpAInactive = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2000 RTP/AVP 0 8
c=IN IP4 127.0.0.2
a=inactive
`)
	sdpBInactive = sdp(`
v=0
o=- 2873397496 2 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3000 RTP/AVP 0
c=IN IP4 127.0.0.3
a=inactive
`)
	sdpAZero = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2000 RTP/AVP 0 8 101
c=IN IP4 0.0.0.0
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	sdpAResume = sdp(`
v=0
o=- 1545997027 3 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2000 RTP/AVP 0 8 101
c=IN IP4 127.0.0.2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	sdpAV = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2020 RTP/AVP 0 8
c=IN IP4 127.0.0.2
a=sendrecv
m=video 2022 RTP/AVP 96 97
c=IN IP4 127.0.0.2
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1
a=rtpmap:97 VP8/90000
a=rtcp-fb:96 nack pli
a=sendrecv
`)
	sdpBAV = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3020 RTP/AVP 0
c=IN IP4 127.0.0.3
a=sendrecv
m=video 3022 RTP/AVP 96
c=IN IP4 127.0.0.3
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1
a=sendrecv
`)
	sdpBAVRejectVideo = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3020 RTP/AVP 0
c=IN IP4 127.0.0.3
a=sendrecv
m=video 0 RTP/AVP 96
c=IN IP4 127.0.0.3
`)
	sdpAVNoVideo = sdp(`
v=0
o=- 1545997027 3 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2020 RTP/AVP 0 8
c=IN IP4 127.0.0.2
a=sendrecv
m=video 0 RTP/AVP 96
c=IN IP4 127.0.0.2
`)
	sdpARejected = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2030 RTP/AVP 0
c=IN IP4 127.0.0.2
a=sendrecv
m=video 0 RTP/AVP 31
c=IN IP4 127.0.0.2
m=audio 2034 RTP/AVP 8
c=IN IP4 127.0.0.2
a=sendrecv
`)
	sdpBTwoAudio = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3030 RTP/AVP 0
c=IN IP4 127.0.0.3
a=sendrecv
m=video 0 RTP/AVP 31
c=IN IP4 127.0.0.3
m=audio 3034 RTP/AVP 8
c=IN IP4 127.0.0.3
a=sendrecv
`)
	sdpA6 = sdp(`
v=0
o=- 1545997027 1 IN IP6 ::1
s=tester
t=0 0
m=audio 2040 RTP/AVP 0 8
c=IN IP6 ::1
a=sendrecv
`)
	sdpB6 = sdp(`
v=0
o=- 2873397496 1 IN IP6 ::1
s=callee
t=0 0
m=audio 3040 RTP/AVP 0
c=IN IP6 ::1
a=sendrecv
`)
	sdpAICE = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2050 RTP/AVP 0
c=IN IP4 127.0.0.2
a=sendrecv
a=ice-ufrag:q2KsPVSv
a=ice-pwd:KDTnLrPy2Ubd1x8iY3kRzoWhZe
a=candidate:1 1 UDP 2130706431 127.0.0.2 2050 typ host
a=candidate:1 2 UDP 2130706430 127.0.0.2 2051 typ host
`)
	sdpASAVP = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2060 RTP/SAVP 0
c=IN IP4 127.0.0.2
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Z3J1bnR5c2VjcmV0a2V5aXNncmVhdGJveTEyMzQ1
a=sendrecv
`)
)

func mediaScenarios() []scenario {
	return []scenario{
		{
			name: "rtcp-mux-offer",
			desc: "rtcp-mux offer adds a=rtcp-mux to a plain offer; the answerer accepts",
			steps: []step{
				st("offer", offer("c-muxoffer", "ta", sdpA, kv{"rtcp-mux": []string{"offer"}})),
				st("answer", answer("c-muxoffer", "ta", "tb", sdpBMux, nil)),
			},
		},
		{
			name: "rtcp-mux-require",
			desc: "rtcp-mux require: mux is assumed, a=rtcp carries the RTP port",
			steps: []step{
				st("offer", offer("c-muxreq", "ta", sdpA, kv{"rtcp-mux": []string{"require"}})),
				st("answer", answer("c-muxreq", "ta", "tb", sdpBMux, nil)),
			},
		},
		{
			name: "rtcp-mux-demux",
			desc: "rtcp-mux demux: a muxing offerer, a non-muxing answerer",
			steps: []step{
				st("offer", offer("c-muxdemux", "ta", sdpAMux, kv{"rtcp-mux": []string{"demux"}})),
				st("answer", answer("c-muxdemux", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "rtcp-mux-accept",
			desc: "rtcp-mux accept in the offer and in the answer",
			steps: []step{
				st("offer", offer("c-muxaccept", "ta", sdpAMux, kv{"rtcp-mux": []string{"accept"}})),
				st("answer", answer("c-muxaccept", "ta", "tb", sdpB, kv{"rtcp-mux": []string{"accept"}})),
			},
		},
		{
			name: "rtcp-mux-reject",
			desc: "rtcp-mux reject in the offer",
			steps: []step{
				st("offer", offer("c-muxreject", "ta", sdpAMux, kv{"rtcp-mux": []string{"reject"}})),
				st("answer", answer("c-muxreject", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "rtcp-mux-passthrough",
			desc: "both sides mux, no flags",
			steps: []step{
				st("offer", offer("c-muxpass", "ta", sdpAMux, nil)),
				st("answer", answer("c-muxpass", "ta", "tb", sdpBMux, nil)),
			},
		},
		{
			name: "rtcp-mux-answer-declines",
			desc: "mux offered, the answer has no a=rtcp-mux",
			steps: []step{
				st("offer", offer("c-muxdecl", "ta", sdpAMux, nil)),
				st("answer", answer("c-muxdecl", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "rtcp-mux-in-answer-flags",
			desc: "rtcp-mux offer in the offer, demux and reject in the answer",
			steps: []step{
				st("offer", offer("c-muxans", "ta", sdpA, kv{"rtcp-mux": []string{"offer"}})),
				st("answer", answer("c-muxans", "ta", "tb", sdpBMux, kv{"rtcp-mux": []string{"demux"}})),
				st("offer2", offer("c-muxans2", "ta", sdpAMux, nil)),
				st("answer2", answer("c-muxans2", "ta", "tb", sdpBMux, kv{"rtcp-mux": []string{"reject"}})),
			},
		},
		{
			name: "hold-sendonly",
			desc: "hold with sendonly/recvonly, then resume",
			steps: []step{
				st("offer", offer("c-holdso", "ta", sdpA, nil)),
				st("answer", answer("c-holdso", "ta", "tb", sdpB, nil)),
				st("hold", offer("c-holdso", "ta", sdpASendonly, nil)),
				st("hold-answer", answer("c-holdso", "ta", "tb", sdpBRecvonly, nil)),
				st("resume", offer("c-holdso", "ta", sdpAResume, nil)),
			},
		},
		{
			name: "hold-inactive",
			desc: "hold with inactive in both directions",
			steps: []step{
				st("offer", offer("c-holdin", "ta", sdpA, nil)),
				st("answer", answer("c-holdin", "ta", "tb", sdpB, nil)),
				st("hold", offer("c-holdin", "ta", sdpAInactive, nil)),
				st("hold-answer", answer("c-holdin", "ta", "tb", sdpBInactive, nil)),
			},
		},
		{
			name: "hold-zero-address",
			desc: "RFC 2543 hold (c=0.0.0.0) is kept; resume restores the address",
			steps: []step{
				st("offer", offer("c-holdzero", "ta", sdpA, nil)),
				st("answer", answer("c-holdzero", "ta", "tb", sdpB, nil)),
				st("hold", offer("c-holdzero", "ta", sdpAZero, nil)),
				st("hold-answer", answer("c-holdzero", "ta", "tb", sdpB2, nil)),
				st("resume", offer("c-holdzero", "ta", sdpAResume, nil)),
			},
		},
		{
			name: "replace-zero-address",
			desc: "replace zero-address turns c=0.0.0.0 into the daemon's address",
			steps: []step{
				st("offer", offer("c-rzero", "ta", sdpAZero, kv{"replace": []string{"zero-address"}})),
				st("answer", answer("c-rzero", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "audio-video",
			desc: "audio and video m= lines",
			steps: []step{
				st("offer", offer("c-av", "ta", sdpAV, nil)),
				st("answer", answer("c-av", "ta", "tb", sdpBAV, nil)),
				st("query", query("c-av", nil)),
			},
		},
		{
			name: "answer-rejects-video",
			desc: "the answerer rejects video with port 0",
			steps: []step{
				st("offer", offer("c-avrej", "ta", sdpAV, nil)),
				st("answer", answer("c-avrej", "ta", "tb", sdpBAVRejectVideo, nil)),
			},
		},
		{
			name: "offer-rejected-stream",
			desc: "three m= lines, the middle one rejected (port 0) in the offer",
			steps: []step{
				st("offer", offer("c-rej", "ta", sdpARejected, nil)),
				st("answer", answer("c-rej", "ta", "tb", sdpBTwoAudio, nil)),
			},
		},
		{
			name: "reoffer-adds-and-removes-video",
			desc: "re-INVITE adding a video stream, then one rejecting it again",
			steps: []step{
				st("offer", offer("c-addvideo", "ta", sdpA, nil)),
				st("answer", answer("c-addvideo", "ta", "tb", sdpB, nil)),
				st("reoffer-video", offer("c-addvideo", "ta", sdpAV, nil)),
				st("reanswer-video", answer("c-addvideo", "ta", "tb", sdpBAV, nil)),
				st("reoffer-novideo", offer("c-addvideo", "ta", sdpAVNoVideo, nil)),
				st("query", query("c-addvideo", nil)),
			},
			// The re-INVITE moves A's and B's audio to other ports (2020,
			// 3020): rtpengine answers that with new local ports.
			allow: keepsPorts("reoffer-video|reanswer-video|reoffer-novideo|query"),
		},
		{
			name: "ipv6-address-family",
			desc: "IPv4 SDP in, address family IP6 out; answer back to IP4",
			steps: []step{
				st("offer", offer("c-af6", "ta", sdpA, kv{"address family": "IP6"})),
				st("answer", answer("c-af6", "ta", "tb", sdpB6, kv{"address family": "IP4"})),
			},
		},
		{
			name: "ipv6-sdp",
			desc: "IPv6 SDP on both sides without address family",
			steps: []step{
				st("offer", offer("c-v6", "ta", sdpA6, nil)),
				st("answer", answer("c-v6", "ta", "tb", sdpB6, nil)),
				st("query", query("c-v6", nil)),
			},
		},
		{
			name: "ipv6-sdp-to-ip4",
			desc: "IPv6 SDP in, address family IP4 out",
			steps: []step{
				st("offer", offer("c-v6to4", "ta", sdpA6, kv{"address-family": "IP4"})),
				st("answer", answer("c-v6to4", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "media-address",
			desc: "media-address overrides the advertised address",
			steps: []step{
				st("offer", offer("c-maddr", "ta", sdpA, kv{"media-address": "127.0.0.77", "flags": []string{"full-rtcp-attribute"}})),
				st("answer", answer("c-maddr", "ta", "tb", sdpB, kv{"media address": "127.0.0.78"})),
			},
		},
		{
			name: "ice-force",
			desc: "ICE=force adds credentials and host candidates for both interface addresses",
			steps: []step{
				st("offer", offer("c-iceforce", "ta", sdpA, kv{"ICE": "force"})),
				st("answer", answer("c-iceforce", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "ice-remove",
			desc: "ICE=remove strips the offerer's ICE attributes",
			steps: []step{
				st("offer", offer("c-iceremove", "ta", sdpAICE, kv{"ICE": "remove"})),
				st("answer", answer("c-iceremove", "ta", "tb", sdpB, kv{"ICE": "remove"})),
			},
		},
		{
			name: "sdes-savp-to-avp",
			desc: "SDES offerer bridged to plain RTP and back (transport-protocol)",
			steps: []step{
				st("offer", offer("c-savp", "ta", sdpASAVP, kv{"transport-protocol": "RTP/AVP"})),
				st("answer", answer("c-savp", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "sdes-avp-to-savp",
			desc: "plain offerer bridged to RTP/SAVP: the daemon generates crypto lines",
			steps: []step{
				st("offer", offer("c-avp2savp", "ta", sdpA, kv{"transport protocol": "RTP/SAVP", "SDES": []string{"no-AES_192_CM_HMAC_SHA1_80", "no-AES_192_CM_HMAC_SHA1_32"}})),
			},
		},
	}
}
