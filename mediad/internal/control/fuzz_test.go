package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/recording"
	"sipmedia/ngproto"
)

// FuzzSignalling drives offer, answer, the block, recording, DTMF and
// subscription commands, query and delete with arbitrary SDP bodies and flag combinations: every reply
// must be a well-formed result, nothing may panic, and no port may stay
// bound once the call is gone.
func FuzzSignalling(f *testing.F) {
	seeds, _ := filepath.Glob("../sdp/testdata/*.sdp")
	for i, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), string(b), uint16(i*37))
	}
	f.Add(testSDP, "v=0\r\nc=IN IP6 ::\r\nm=audio 0 RTP/AVP 0\r\nm=video 4 RTP/AVP 96\r\n", uint16(0xffff))
	chrome, err := os.ReadFile("../sdp/testdata/chrome.sdp")
	if err != nil {
		f.Fatal(err)
	}
	firefox, err := os.ReadFile("../sdp/testdata/firefox.sdp")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(chrome), string(firefox), uint16(0x1000))
	f.Add(testSDP, string(chrome), uint16(0x0801))
	spool, err := recording.Open(f.TempDir(), "pcap", "raw")
	if err != nil {
		f.Fatal(err)
	}
	reg, alloc := newTestRegistryWith(f, 44400, 44999, func(c *call.Config) { c.Recording = spool })
	h := NewHandler(reg, nil, nil)
	flagSets := [][]any{
		{"trust-address"}, {"loop-protect", "original-sendrecv"}, {"no-rtcp-attribute"},
		{"full-rtcp-attribute", "generate-mid"}, {"SIP-source-address", "asymmetric", "strict-source"},
		{"WebRTC"}, {"to-tag"}, {"fast"}, {"strip-extmap", "single-codec", "pierce-NAT", "NAT-wait"},
		{"inject DTMF"}, {"inject-DTMF", "all"},
	}
	f.Fuzz(func(t *testing.T, offerSDP, answerSDP string, sel uint16) {
		off := ngproto.Dict{"command": "offer", "call-id": "fz", "from-tag": "a", "sdp": offerSDP,
			"flags": flagSets[int(sel)%len(flagSets)], "received-from": []any{"IP4", "192.0.2.1"}}
		if sel&0x100 != 0 {
			off["rtcp-mux"] = []any{[]string{"offer", "require", "demux", "accept", "reject"}[int(sel>>9)%5]}
		}
		if sel&0x4000 != 0 {
			off["address family"] = "IP6"
		}
		if sel&0x8000 != 0 {
			off["ICE"] = "force"
			off["replace"] = []any{"origin", "SDP-version", "username", "session-name"}
		}
		if sel&0x0400 != 0 {
			off["record call"] = "yes"
			off["metadata"] = answerSDP[:min(len(answerSDP), 20)]
		}
		if sel&0x2000 != 0 {
			off["codec"] = ngproto.Dict{"strip": []any{"PCMA", "all"}, "except": []any{"opus"}}
		}
		ans := ngproto.Dict{"command": "answer", "call-id": "fz", "from-tag": "a", "to-tag": "b", "sdp": answerSDP, "via-branch": "x"}
		if sel&0x0800 != 0 {
			// The seed's phone-to-browser bridging: SRTP toward the
			// callee (DTLS and SDES offered), plain back to the caller.
			off["transport-protocol"], off["ICE"] = "UDP/TLS/RTP/SAVPF", "force"
			off["SDES"] = []any{[]string{"off", "no-AEAD_AES_256_GCM", "only-AES_CM_128_HMAC_SHA1_80"}[int(sel)%3]}
			ans["transport-protocol"], ans["ICE"] = "RTP/AVP", "remove"
		}
		if sel&0x1000 != 0 {
			// The seed's browser-to-browser flags: passthrough when both
			// sides carry ICE.
			off["ICE"], off["DTLS"] = "force-relay", "passive"
			ans["ICE"], ans["DTLS"] = "force-relay", "passive"
		}
		blockCmds := []string{"block media", "unblock media", "silence media", "unsilence media", "block DTMF", "unblock DTMF"}
		for _, req := range []ngproto.Dict{
			off,
			ans,
			// Blocking by tag, by an address from the input and for the
			// whole call stays through the re-offers that follow.
			{"command": blockCmds[int(sel)%6], "call-id": "fz", "from-tag": "b"},
			{"command": blockCmds[int(sel>>3)%6], "call-id": "fz", "address": offerSDP[:min(len(offerSDP), 16)]},
			{"command": blockCmds[int(sel>>6)%6], "call-id": "fz", "flags": []any{"all"}},
			// Digits, whatever the codecs, queued into the relay.
			{"command": "play DTMF", "call-id": "fz", "from-tag": []string{"a", "b"}[int(sel>>5)%2],
				"digit": offerSDP[:min(len(offerSDP), int(sel>>12))], "duration": int64(sel), "volume": int64(sel>>7) - 64},
			{"command": "play DTMF", "call-id": "fz", "flags": []any{"all"}, "code": int64(sel % 17)},
			// A subscription to one party or to all, answered with
			// either body; it stays through the re-offers below, or
			// ends before them.
			{"command": "publish", "call-id": "fz", "from-tag": "p", "sdp": answerSDP,
				"codec": ngproto.Dict{"accept": []any{"PCMA", "any"}[:int(sel>>13)%3]}},
			{"command": "subscribe request", "call-id": "fz", "from-tag": []string{"a", "b", "", "p"}[int(sel>>1)%4],
				"flags": [][]any{nil, {"all"}, {"RTCP mirror"}}[int(sel>>8)%3], "to-tag": "s"},
			{"command": "subscribe answer", "call-id": "fz", "to-tag": "s", "sdp": []string{offerSDP, answerSDP}[int(sel>>3)%2],
				"flags": [][]any{nil, {"allow transcoding"}}[int(sel>>10)%2]},
			{"command": []string{"unsubscribe", "query"}[int(sel>>11)%2], "call-id": "fz", "to-tag": "s"},
			// Recording (or forwarding, which records too) on and off
			// mid-call; a re-offer may turn it on again.
			{"command": []string{"start recording", "stop recording", "start forwarding", "stop forwarding"}[int(sel>>2)%4],
				"call-id": "fz", "from-tag": []string{"", "b"}[int(sel>>4)%2], "metadata": offerSDP[:min(len(offerSDP), 9)]},
			{"command": "offer", "call-id": "fz", "from-tag": "b", "to-tag": "a", "sdp": answerSDP},
			{"command": "answer", "call-id": "fz", "from-tag": "a", "to-tag": "c", "sdp": offerSDP},
			{"command": "query", "call-id": "fz", "from-tag": "a"},
			{"command": "delete", "call-id": "fz", "from-tag": "a", "to-tag": "c", "flags": []any{"to-tag"}},
			{"command": "delete", "call-id": "fz"},
		} {
			r := serve(h, req)
			switch r.Str("result") {
			case "ok":
				if s := r.Str("sdp"); s != "" && !strings.HasPrefix(s, "v=") && s != req.Str("sdp") {
					t.Fatalf("%s: reply SDP does not start with v=: %q", req.Str("command"), s)
				}
			case "error":
				if r.Str("error-reason") == "" {
					t.Fatalf("%s: error without reason", req.Str("command"))
				}
			default:
				t.Fatalf("%s: reply %v", req.Str("command"), r)
			}
		}
		if reg.Len() != 0 || alloc.InUse() != 0 {
			t.Fatalf("after delete: %d calls, %d ports", reg.Len(), alloc.InUse())
		}
		// Every recording was finished: its metadata left tmp/.
		if tmp, _ := os.ReadDir(filepath.Join(spool.Dir(), "tmp")); len(tmp) != 0 {
			t.Fatalf("after delete: recordings still open: %v", tmp)
		}
	})
}
