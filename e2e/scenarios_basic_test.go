package e2e

import "sipmedia/e2e/internal/ngcmp"

// Caller (A) and callee (B) SDPs used by most scenarios. Addresses are
// loopback so that nothing a daemon might send leaves the machine; ports
// are outside both daemons' media ranges.
var (
	sdpA = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2000 RTP/AVP 0 8 101
c=IN IP4 127.0.0.2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	sdpB = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3000 RTP/AVP 0 101
c=IN IP4 127.0.0.3
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	// sdpA2 is A's re-INVITE: new address and port, version bumped.
	sdpA2 = sdp(`
v=0
o=- 1545997027 2 IN IP4 127.0.0.4
s=tester
t=0 0
m=audio 2100 RTP/AVP 0 8 101
c=IN IP4 127.0.0.4
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	sdpB2 = sdp(`
v=0
o=- 2873397496 2 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3000 RTP/AVP 0 101
c=IN IP4 127.0.0.3
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	// sdpExtmap has header extensions at both levels and several codecs.
	sdpExtmap = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
a=extmap-allow-mixed
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
m=audio 2008 RTP/AVP 8 0 9 101 13
c=IN IP4 127.0.0.2
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2/sendrecv http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
`)
	// sdpBMulti answers with every codec it can.
	sdpBMulti = sdp(`
v=0
o=- 2873397496 1 IN IP4 127.0.0.3
s=callee
t=0 0
m=audio 3008 RTP/AVP 0 8 9 101 13
c=IN IP4 127.0.0.3
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtpmap:13 CN/8000
a=sendrecv
`)
	// sdpSessC has only a session-level c= and a session-level direction.
	sdpSessC = sdp(`
v=0
o=alice 2890844526 2890844526 IN IP4 127.0.0.2
s=-
c=IN IP4 127.0.0.2
t=0 0
a=sendrecv
m=audio 2002 RTP/AVP 8 0
`)
	// sdpNoDir has no direction attribute at all.
	sdpNoDir = sdp(`
v=0
o=- 1545997027 1 IN IP4 127.0.0.2
s=tester
t=0 0
m=audio 2004 RTP/AVP 0
c=IN IP4 127.0.0.2
`)
	// sdpRich carries attributes a daemon must pass through or rebuild.
	sdpRich = sdp(`
v=0
o=carol 3141592653 58979 IN IP4 127.0.0.2
s=rich session
i=session info
u=http://example.com/session
e=carol@example.com
b=AS:200
t=0 0
a=tool:sipp
a=x-session-thing:42
m=audio 2006 RTP/AVP 96 97 9 18 0 101
c=IN IP4 127.0.0.2
b=AS:80
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1; minptime=10
a=rtpmap:97 AMR-WB/16000
a=fmtp:97 mode-set=0,1,2; octet-align=1
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtcp-fb:96 nack
a=x-media-thing:yes
a=label:main
a=ptime:20
a=maxptime:40
a=sendrecv
`)
)

func basicScenarios() []scenario {
	return []scenario{
		{
			name: "plain-offer-answer-delete",
			desc: "offer, answer, query, delete of a plain RTP/AVP call",
			steps: []step{
				st("offer", offer("c-plain", "ta", sdpA, nil)),
				st("answer", answer("c-plain", "ta", "tb", sdpB, nil)),
				st("query", query("c-plain", nil)),
				st("delete", del("c-plain", kv{"from-tag": "ta"})),
				st("query-after", query("c-plain", nil)),
			},
		},
		{
			name: "offer-only-delete",
			desc: "an offer never answered is deleted by call-id alone",
			steps: []step{
				st("offer", offer("c-offeronly", "ta", sdpA, nil)),
				st("delete", del("c-offeronly", nil)),
			},
		},
		{
			name: "offer-retransmit-same-cookie",
			desc: "a retransmitted offer (same cookie) gets the cached reply; a new cookie with the same SDP keeps the ports",
			steps: []step{
				st("offer", offer("c-retrans", "ta", sdpA, nil)),
				{name: "offer-retransmit", cmd: offer("c-retrans", "ta", sdpA, nil), reuse: "offer"},
				st("offer-new-cookie", offer("c-retrans", "ta", sdpA, nil)),
			},
		},
		{
			name: "reoffer-same-sdp-keeps-ports",
			desc: "offer, answer, then the same offer and answer again: same ports",
			steps: []step{
				st("offer", offer("c-reoffer", "ta", sdpA, nil)),
				st("answer", answer("c-reoffer", "ta", "tb", sdpB, nil)),
				st("reoffer", offer("c-reoffer", "ta", sdpA, nil)),
				st("reanswer", answer("c-reoffer", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "reinvite-new-address",
			desc: "re-INVITE from A with a new address and port: rtpengine keeps its own ports",
			steps: []step{
				st("offer", offer("c-reinv", "ta", sdpA, nil)),
				st("answer", answer("c-reinv", "ta", "tb", sdpB, nil)),
				st("reoffer", offer("c-reinv", "ta", sdpA2, nil)),
				st("reanswer", answer("c-reinv", "ta", "tb", sdpB2, nil)),
				st("query", query("c-reinv", nil)),
			},
			allow: keepsPorts("reoffer|query"),
		},
		{
			name: "reinvite-from-callee",
			desc: "re-INVITE in the other direction: B offers, A answers, tags swapped",
			steps: []step{
				st("offer", offer("c-reinvb", "ta", sdpA, nil)),
				st("answer", answer("c-reinvb", "ta", "tb", sdpB, nil)),
				st("reoffer-b", offer("c-reinvb", "tb", sdpB2, nil)),
				st("reanswer-a", answer("c-reinvb", "tb", "ta", sdpA2, nil)),
			},
			allow: keepsPorts("reanswer-a"),
		},
		{
			name: "attributes-passthrough",
			desc: "session and media attributes, b=, i=, u=, e=, fmtp, rtcp-fb, ptime, label",
			steps: []step{
				st("offer", offer("c-rich", "ta", sdpRich, nil)),
				st("answer", answer("c-rich", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "session-level-connection",
			desc: "only a session-level c= and session-level a=sendrecv in the input",
			steps: []step{
				st("offer", offer("c-sessc", "ta", sdpSessC, nil)),
				st("answer", answer("c-sessc", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "flag-trust-address",
			desc: "trust-address with a received-from that differs from the SDP: the SDP address is used",
			steps: []step{
				st("offer", offer("c-trust", "ta", sdpA, kv{"flags": []string{"trust-address"}, "received-from": []string{"IP4", "127.0.0.9"}})),
				st("query", query("c-trust", nil)),
			},
		},
		{
			name: "flag-sip-source-address",
			desc: "SIP-source-address: the received-from address replaces the SDP's",
			steps: []step{
				st("offer", offer("c-sipsrc", "ta", sdpA, kv{"flags": []string{"SIP-source-address"}, "received-from": []string{"IP4", "127.0.0.9"}})),
				st("answer", answer("c-sipsrc", "ta", "tb", sdpB, kv{"flags": []string{"SIP-source-address"}, "received-from": []string{"IP4", "127.0.0.10"}})),
				st("query", query("c-sipsrc", nil)),
			},
		},
		{
			name: "received-from-default",
			desc: "received-from without flags (trust-address is the default)",
			steps: []step{
				st("offer", offer("c-recvfrom", "ta", sdpA, kv{"received from": []string{"IP4", "127.0.0.9"}})),
				st("query", query("c-recvfrom", nil)),
			},
		},
		{
			name: "flag-asymmetric",
			desc: "asymmetric on both sides, visible in query stream flags",
			steps: []step{
				st("offer", offer("c-asym", "ta", sdpA, kv{"flags": []string{"asymmetric"}})),
				st("answer", answer("c-asym", "ta", "tb", sdpB, kv{"flags": []string{"asymmetric"}})),
				st("query", query("c-asym", nil)),
			},
		},
		{
			name: "flag-strict-source",
			desc: "strict-source and media-handover, visible in query stream flags",
			steps: []step{
				st("offer", offer("c-strict", "ta", sdpA, kv{"flags": []string{"strict-source"}})),
				st("answer", answer("c-strict", "ta", "tb", sdpB, kv{"flags": []string{"strict source", "media handover"}})),
				st("query", query("c-strict", nil)),
			},
		},
		{
			name: "flag-symmetric-and-latching",
			desc: "flags proxies send that rtpengine does not know (symmetric) or only latches on (port-latching)",
			steps: []step{
				st("offer", offer("c-sym", "ta", sdpA, kv{"flags": []string{"symmetric", "port-latching"}})),
				st("answer", answer("c-sym", "ta", "tb", sdpB, kv{"flags": []string{"symmetric"}})),
			},
		},
		{
			name: "flag-loop-protect",
			desc: "loop-protect adds a=rtpengine; the daemon's own output offered back is passed through untouched",
			steps: []step{
				st("offer", offer("c-loop", "ta", sdpA, kv{"flags": []string{"loop-protect"}})),
				{name: "offer-looped", cmd: offer("c-loop", "ta", "", kv{"flags": []string{"loop-protect"}}), sdpFrom: "offer"},
				st("answer", answer("c-loop", "ta", "tb", sdpB, kv{"flags": []string{"loop-protect"}})),
			},
		},
		{
			name: "flag-no-rtcp-attribute",
			desc: "no-rtcp-attribute in offer and answer",
			steps: []step{
				st("offer", offer("c-nortcp", "ta", sdpA, kv{"flags": []string{"no-rtcp-attribute"}})),
				st("answer", answer("c-nortcp", "ta", "tb", sdpB, kv{"flags": []string{"no-rtcp-attribute"}})),
			},
		},
		{
			name: "flag-full-rtcp-attribute",
			desc: "full-rtcp-attribute in offer and answer",
			steps: []step{
				st("offer", offer("c-fullrtcp", "ta", sdpA, kv{"flags": []string{"full-rtcp-attribute"}})),
				st("answer", answer("c-fullrtcp", "ta", "tb", sdpB, kv{"flags": []string{"full-rtcp-attribute"}})),
			},
		},
		{
			name: "flag-original-sendrecv",
			desc: "original-sendrecv with and without a direction attribute in the input",
			steps: []step{
				st("offer", offer("c-origsr", "ta", sdpNoDir, kv{"flags": []string{"original-sendrecv"}})),
				st("answer", answer("c-origsr", "ta", "tb", sdpB, kv{"flags": []string{"original-sendrecv"}})),
				st("offer-nodir-default", offer("c-origsr2", "ta", sdpNoDir, nil)),
			},
		},
		{
			name: "flags-as-string",
			desc: "list-typed keys given as one string, key aliases with space/underscore",
			steps: []step{
				st("offer", offer("c-strflags", "ta", sdpA, kv{"flags": "trust-address loop-protect", "replace": "origin", "transport_protocol": "RTP/AVP", "address-family": "IP4"})),
				st("answer", answer("c-strflags", "ta", "tb", sdpB, kv{"rtcp-mux": "demux", "replace": "origin,session-name"})),
			},
			allow: []ngcmp.Allowance{{
				Path: `sdp@\d+`, Value: `^(o=|s=|a=rtpengine:)`,
				Reason: "issue 2: list-typed keys (flags, replace, rtcp-mux...) also accept a string, as the reference describes for current rtpengine; rtpengine 10.5 ignores string-valued flags/replace",
			}},
		},
		{
			name: "replace-origin",
			desc: "replace origin: o= address becomes the daemon's, kept across the re-offer",
			steps: []step{
				st("offer", offer("c-rorigin", "ta", sdpA, kv{"replace": []string{"origin"}})),
				st("answer", answer("c-rorigin", "ta", "tb", sdpB, kv{"replace": []string{"origin"}})),
				st("reoffer", offer("c-rorigin", "ta", sdpA2, kv{"replace": []string{"origin"}})),
			},
			allow: keepsPorts("reoffer"),
		},
		{
			name: "replace-session-connection",
			desc: "replace session-connection (sent by both proxy modules) with a session-level c=",
			steps: []step{
				st("offer", offer("c-rsessc", "ta", sdpSessC, kv{"replace": []string{"session-connection", "origin"}})),
				st("answer", answer("c-rsessc", "ta", "tb", sdpB, kv{"replace": []string{"session connection"}})),
			},
		},
		{
			name: "replace-sdp-version",
			desc: "SDP-version: the o= version is bumped only when the output changes",
			steps: []step{
				st("offer", offer("c-rver", "ta", sdpA, kv{"replace": []string{"SDP-version"}})),
				st("reoffer-same", offer("c-rver", "ta", sdpA, kv{"replace": []string{"SDP-version"}})),
				st("reoffer-changed", offer("c-rver", "ta", sdpA2, kv{"replace": []string{"SDP-version"}})),
			},
			allow: append(keepsPorts("reoffer-changed"), ngcmp.Allowance{
				Step: "reoffer-changed", Path: `sdp@\d+`, Value: `^o=- 1545997027 [12] `,
				Reason: "follows from keeping the ports: mediad's output did not change, so SDP-version keeps the version that rtpengine bumps",
			}),
		},
		{
			name: "replace-force-increment-sdp-ver",
			desc: "force-increment-sdp-ver bumps the version on every offer",
			steps: []step{
				st("offer", offer("c-rforce", "ta", sdpA, kv{"replace": []string{"force-increment-sdp-ver"}})),
				st("reoffer-same", offer("c-rforce", "ta", sdpA, kv{"replace": []string{"force-increment-sdp-ver"}})),
			},
		},
		{
			name: "replace-username-session-name",
			desc: "replace username and session-name",
			steps: []step{
				st("offer", offer("c-ruser", "ta", sdpRich, kv{"replace": []string{"username", "session-name"}})),
				st("answer", answer("c-ruser", "ta", "tb", sdpB, kv{"replace": []string{"username"}})),
			},
		},
		{
			name: "replace-origin-full",
			desc: "origin-full freezes the whole o= line",
			steps: []step{
				st("offer", offer("c-rofull", "ta", sdpA, kv{"replace": []string{"origin-full"}})),
				st("reoffer", offer("c-rofull", "ta", sdpA2, kv{"replace": []string{"origin-full"}})),
			},
			allow: keepsPorts("reoffer"),
		},
	}
}

// sdpFormScenarios feed SDP in unusual forms, as phones send it.
func sdpFormScenarios() []scenario {
	return []scenario{
		{
			name: "rtpmap-channels",
			desc: "a channel count of 1 in a=rtpmap (G722/8000/1, as Firefox writes it) is dropped, 2 is kept; offer and answer",
			steps: []step{
				st("offer", offer("c-chan", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 9 0 96 97\na=rtpmap:9 G722/8000/1\na=rtpmap:0 PCMU/8000/1\na=rtpmap:96 opus/48000/2\na=rtpmap:97 L16/8000/1\n"), nil)),
				st("answer", answer("c-chan", "ta", "tb", sdp("\nv=0\no=- 2 1 IN IP4 127.0.0.3\ns=-\nc=IN IP4 127.0.0.3\nt=0 0\nm=audio 3002 RTP/AVP 9 96\na=rtpmap:9 G722/8000/1\na=rtpmap:96 opus/48000/2\n"), nil)),
			},
		},
		{
			name: "sdp-repeated-lines",
			desc: "a second o=, or a second c= at one level, is refused; a second s= and a media c= under a session c= are not. A session c= that every media section overrides is left alone unless replace has session-connection",
			steps: []step{
				st("two-o", offer("c-rep1", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\no=- 2 2 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 0\n"), nil)),
				st("two-session-c", offer("c-rep2", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nc=IN IP4 127.0.0.3\nt=0 0\nm=audio 2002 RTP/AVP 0\n"), nil)),
				st("two-media-c", offer("c-rep3", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nt=0 0\nm=audio 2002 RTP/AVP 0\nc=IN IP4 127.0.0.2\nc=IN IP4 127.0.0.3\n"), nil)),
				st("two-multicast-c", offer("c-rep4", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nt=0 0\nm=audio 2002 RTP/AVP 0\nc=IN IP4 224.2.1.1/127\nc=IN IP4 224.2.1.2/127\n"), nil)),
				st("two-s", offer("c-rep5", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\ns=x\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 0\n"), nil)),
				st("session-and-media-c", offer("c-rep6", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 0\nc=IN IP4 127.0.0.3\n"), nil)),
				st("session-and-media-c-replace", offer("c-rep7", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 0\nc=IN IP4 127.0.0.3\n"), kv{"replace": []string{"session-connection"}})),
				st("session-c-one-of-two-media", offer("c-rep8", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\nm=audio 2002 RTP/AVP 0\nc=IN IP4 127.0.0.3\nm=video 2004 RTP/AVP 96\na=rtpmap:96 H264/90000\n"), nil)),
			},
		},
		{
			name: "sdp-line-order",
			desc: "SDP out of RFC 4566 order, as phones send it (no s=, b= before c=, a= before t=, LF line ends); pion/sdp refuses it",
			steps: []step{
				st("offer", offer("c-order", "ta", "v=0\no=- 1545997027 1 IN IP4 127.0.0.2\nb=AS:64\nc=IN IP4 127.0.0.2\na=sendrecv\nt=0 0\nm=audio 2002 RTP/AVP 8 0\n", nil)),
				st("answer", answer("c-order", "ta", "tb", sdpB, nil)),
			},
			// Exactly these lines, so that any other difference still fails.
			allow: []ngcmp.Allowance{{Step: "offer", Path: `sdp@\d+`,
				Value:  `^(v=0|o=- 1545997027 1 IN IP4 127\.0\.0\.2|b=AS:64|c=IN IP4 127\.0\.0\.1|t=0 0|m=audio PORT1 RTP/AVP 8 0)( <LF only>)?$`,
				Reason: "line ends: mediad ends every line with CRLF (RFC 8866 section 5); rtpengine 10.5 keeps the bare LF of the lines it copies from an LF-only SDP and writes CRLF on the lines it adds, mixing both in one body"}},
		},
		{
			name: "transport-protocols",
			desc: "m= protocols: rtpengine's six RTP profiles in any case (written in capitals), and others it passes through as opaque media (TCP/RTP/AVP, TCP/TLS/RTP/SAVPF, DCCP, UDP, udptl, ...: no codec lines, no a=rtcp, no keys)",
			steps: []step{
				protoOffer("RTP/AVP", "c-proto0"),
				protoOffer("RTP/AVPF", "c-proto1"),
				protoOffer("RTP/SAVP", "c-proto2"),
				protoOffer("RTP/SAVPF", "c-proto3"),
				protoOffer("UDP/TLS/RTP/SAVP", "c-proto4"),
				protoOffer("UDP/TLS/RTP/SAVPF", "c-proto5"),
				protoOffer("TCP/RTP/AVP", "c-proto6"),
				protoOffer("TCP/TLS/RTP/SAVPF", "c-proto7"),
				protoOffer("DCCP/RTP/AVP", "c-proto8"),
				protoOffer("UDP/RTP/AVP", "c-proto9"),
				protoOffer("RTP/AVP/TCP", "c-proto10"),
				protoOffer("rtp/avp", "c-proto11"),
				protoOffer("TCP/RTP/AVPF", "c-proto12"),
				protoOffer("UDP", "c-proto13"),
				protoOffer("udptl", "c-proto14"),
				protoOffer("TCP/MRCPv2", "c-proto15"),
			},
		},
	}
}

// globalAllowances are deliberate differences that apply to every
// scenario. Each entry says why mediad differs from rtpengine 10.5.
var globalAllowances = []ngcmp.Allowance{
	{
		// rtpengine allocates each address of a logical interface its own
		// ports (ICE candidates for ::1 carry other port numbers than
		// 127.0.0.1); mediad's ports.Allocator binds the same pair on every
		// address (mediad-layout.md), so its IPv6 candidates reuse the IPv4
		// ports.
		Path:   `sdp@\d+`,
		Value:  `^a=candidate:\S+ \d UDP \d+ ::1 C?PORT`,
		Reason: "mediad binds the same port numbers on every interface address",
	},
}

// keepsPorts excuses, in the given steps, the new media ports rtpengine
// 10.5 allocates when a re-offer or re-answer changes the peer's address:
// issue 2 requires that a re-offer or re-answer keeps the call's ports
// (users complain about rtpengine's port changes: rtpengine #1014, #1574).
// protoOffer is a step, named for proto, that offers one audio stream
// with that m= protocol.
func protoOffer(proto, call string) step {
	return st(proto, offer(call, "ta", "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 2002 "+proto+" 0\r\n", nil))
}

func keepsPorts(steps string) []ngcmp.Allowance {
	const why = "issue 2: a re-offer/re-answer keeps its ports; rtpengine 10.5 allocates new ones when the peer address changes"
	return []ngcmp.Allowance{
		{Step: steps, Path: `sdp@\d+`, Value: `^(m=\w+ PORT|a=rtcp:PORT)`, Reason: why},
		{Step: steps, Path: `tags\..*\.local port`, Reason: why},
	}
}

// codecFlagScenarios run after the statistics scenario: for single-codec
// rtpengine sets up a transcoder, which its statistics list from then on
// (mediad does not transcode).
func codecFlagScenarios() []scenario {
	return []scenario{
		{
			name: "flags-strip-extmap-single-codec",
			desc: "strip-extmap on an offer and an answer (a=extmap at both levels, extmap-allow-mixed stays), single-codec on an answer with five codecs (the first stays, with telephone-event and CN), and on a re-offer (no effect)",
			steps: []step{
				st("offer", offer("c-extmap", "ta", sdpExtmap, kv{"flags": []string{"strip-extmap"}})),
				st("answer", answer("c-extmap", "ta", "tb", sdpBMulti, kv{"flags": []string{"single-codec", "strip-extmap"}})),
				st("reoffer", offer("c-extmap", "ta", sdpExtmap, kv{"flags": []string{"single-codec"}})),
				st("reanswer", answer("c-extmap", "ta", "tb", sdpBMulti, nil)),
				st("delete", del("c-extmap", nil)),
			},
		},
	}
}
