package e2e

import "sipmedia/e2e/internal/ngcmp"

func controlScenarios() []scenario {
	return []scenario{
		{
			name:  "ping",
			desc:  "ping answers pong",
			steps: []step{st("ping", dict("ping", nil))},
		},
		{
			name: "delete-from-tag",
			desc: "delete with from-tag removes the call; a second delete finds nothing",
			steps: []step{
				st("offer", offer("c-delft", "ta", sdpA, nil)),
				st("answer", answer("c-delft", "ta", "tb", sdpB, nil)),
				st("delete", del("c-delft", kv{"from-tag": "ta"})),
				st("delete-again", del("c-delft", kv{"from-tag": "ta"})),
			},
		},
		{
			name: "delete-to-tag",
			desc: "delete with to-tag (flag to-tag) and with the answerer's tag as from-tag",
			steps: []step{
				st("offer", offer("c-deltt", "ta", sdpA, nil)),
				st("answer", answer("c-deltt", "ta", "tb", sdpB, nil)),
				st("delete", del("c-deltt", kv{"from-tag": "ta", "to-tag": "tb", "flags": []string{"to-tag"}})),
				st("query", query("c-deltt", nil)),
				st("offer2", offer("c-deltt2", "ta", sdpA, nil)),
				st("answer2", answer("c-deltt2", "ta", "tb", sdpB, nil)),
				st("delete2", del("c-deltt2", kv{"from-tag": "tb"})),
				st("query2", query("c-deltt2", nil)),
			},
		},
		{
			name: "fork-two-answers",
			desc: "forked INVITE: early answers from two callees (different to-tags), then the final one",
			steps: []step{
				st("offer", offer("c-fork", "ta", sdpA, nil)),
				st("answer-b", answer("c-fork", "ta", "tb", sdpB, nil)),
				st("answer-c", answer("c-fork", "ta", "tc", sdpB2, nil)),
				st("query", query("c-fork", nil)),
				st("delete-b", del("c-fork", kv{"from-tag": "ta", "to-tag": "tb", "flags": []string{"to-tag"}})),
				st("query-after", query("c-fork", nil)),
			},
		},
		{
			name: "call-id-reuse-after-delete",
			desc: "a call-id offered again after its call was deleted starts a new call",
			steps: []step{
				st("offer", offer("c-reuse", "ta", sdpA, nil)),
				st("delete", del("c-reuse", nil)),
				st("offer-again", offer("c-reuse", "ta", sdpA, nil)),
				st("answer", answer("c-reuse", "ta", "tb", sdpB, nil)),
				st("query", query("c-reuse", kv{"from-tag": "ta"})),
			},
		},
		{
			name: "delete-wrong-tag",
			desc: "delete with a from-tag the call does not have",
			steps: []step{
				st("offer", offer("c-delwrong", "ta", sdpA, nil)),
				st("delete", del("c-delwrong", kv{"from-tag": "nope"})),
				st("query", query("c-delwrong", nil)),
			},
		},
		{
			name: "delete-via-branch",
			desc: "a forked call answered on two branches, delete of one branch by to-tag and via-branch, then the rest",
			steps: []step{
				st("offer", offer("c-delvb", "ta", sdpA, kv{"via-branch": "z9hG4bK1"})),
				st("offer-branch2", offer("c-delvb", "ta", sdpA, kv{"via-branch": "z9hG4bK2"})),
				st("answer", answer("c-delvb", "ta", "tb", sdpB, kv{"via-branch": "z9hG4bK1"})),
				st("answer-branch2", answer("c-delvb", "ta", "tc", sdpB2, kv{"via-branch": "z9hG4bK2"})),
				st("delete-branch2", del("c-delvb", kv{"from-tag": "ta", "to-tag": "tc", "via-branch": "z9hG4bK2", "flags": []string{"to-tag"}})),
				st("query", query("c-delvb", nil)),
				st("delete", del("c-delvb", kv{"from-tag": "ta", "via-branch": "z9hG4bK1"})),
				st("query-after", query("c-delvb", nil)),
			},
		},
		{
			name: "delete-fork-callee-bye",
			desc: "a forked call answered on one branch; the callee's BYE deletes with its own from-tag: the unanswered branch keeps the call",
			steps: []step{
				st("offer", offer("c-delfork", "ta", sdpA, kv{"via-branch": "z9hG4bK1"})),
				st("offer-branch2", offer("c-delfork", "ta", sdpA, kv{"via-branch": "z9hG4bK2"})),
				st("answer", answer("c-delfork", "ta", "tb", sdpB, kv{"via-branch": "z9hG4bK1"})),
				st("delete", del("c-delfork", kv{"from-tag": "tb"})),
				st("query", query("c-delfork", nil)),
			},
		},
		{
			name: "delete-fork-branch-then-bye",
			desc: "a forked call answered on one branch; the other branch is deleted by via-branch (the call stays), then the callee's BYE deletes the rest",
			steps: []step{
				st("offer", offer("c-delfb", "ta", sdpA, kv{"via-branch": "z9hG4bK1"})),
				st("offer-branch2", offer("c-delfb", "ta", sdpA, kv{"via-branch": "z9hG4bK2"})),
				st("answer", answer("c-delfb", "ta", "tb", sdpB, kv{"via-branch": "z9hG4bK1"})),
				st("delete-branch2", del("c-delfb", kv{"from-tag": "ta", "via-branch": "z9hG4bK2"})),
				st("query-mid", query("c-delfb", nil)),
				st("delete", del("c-delfb", kv{"from-tag": "tb"})),
				st("query", query("c-delfb", nil)),
			},
		},
		{
			name: "delete-unknown-call",
			desc: "delete of an unknown call-id is ok with a warning",
			steps: []step{
				st("delete", del("c-unknown", kv{"from-tag": "x"})),
				st("delete-no-tag", del("c-unknown", nil)),
			},
		},
		{
			name: "delete-unknown-fatal",
			desc: "delete of an unknown call-id with fatal is an error",
			steps: []step{
				st("delete", del("c-unknown-fatal", kv{"flags": []string{"fatal"}})),
			},
		},
		{
			name: "delete-fast",
			desc: "delete with fast leaves out the statistics",
			steps: []step{
				st("offer", offer("c-delfast", "ta", sdpA, nil)),
				st("answer", answer("c-delfast", "ta", "tb", sdpB, nil)),
				st("delete", del("c-delfast", kv{"flags": []string{"fast"}})),
			},
		},
		{
			name: "delete-delay-key",
			desc: "delete with an explicit delete-delay of 0",
			steps: []step{
				st("offer", offer("c-deldelay", "ta", sdpA, nil)),
				st("delete", del("c-deldelay", kv{"delete-delay": 0})),
				st("query", query("c-deldelay", nil)),
			},
		},
		{
			name: "query-tags-labels",
			desc: "query with from-tag and to-tag after offer/answer carrying labels",
			steps: []step{
				st("offer", offer("c-qlabel", "ta", sdpA, kv{"label": "caller"})),
				st("answer", answer("c-qlabel", "ta", "tb", sdpB, kv{"label": "callee"})),
				st("query", query("c-qlabel", kv{"from-tag": "ta"})),
				st("query-to", query("c-qlabel", kv{"from-tag": "ta", "to-tag": "tb"})),
			},
		},
		{
			name: "query-unknown-call",
			desc: "query of an unknown call-id",
			steps: []step{
				st("query", query("c-qunknown", nil)),
			},
		},
		{
			name: "list-calls",
			desc: "list with and without limit",
			steps: []step{
				st("offer1", offer("c-list1", "ta", sdpA, nil)),
				st("offer2", offer("c-list2", "ta", sdpA, nil)),
				st("list", dict("list", nil)),
				st("list-limit", dict("list", kv{"limit": 1})),
			},
		},
		{
			name: "statistics",
			desc: "statistics after some calls, compared by shape",
			steps: []step{
				st("offer", offer("c-stats", "ta", sdpA, nil)),
				{name: "statistics", cmd: dict("statistics", nil), shapeOnly: true},
			},
		},
		{
			name: "json-body",
			desc: "offer, answer and delete as JSON: replies in JSON",
			steps: []step{
				{name: "offer", cmd: offer("c-json", "ta", sdpA, nil), json: true},
				{name: "answer", cmd: answer("c-json", "ta", "tb", sdpB, nil), json: true},
				{name: "delete", cmd: del("c-json", kv{"flags": []string{"fast"}}), json: true},
				{name: "ping", cmd: dict("ping", nil), json: true},
			},
		},
		{
			name: "unsupported-commands",
			desc: "a command rtpengine knows that needs a media feature mediad lacks (playing media) on a live call; the block commands beside it work",
			steps: []step{
				st("offer", offer("c-unsup", "ta", sdpA, nil)),
				st("answer", answer("c-unsup", "ta", "tb", sdpB, nil)),
				st("play-media", dict("play media", kv{"call-id": "c-unsup", "from-tag": "ta", "file": "/nonexistent.wav"})),
				st("block-dtmf", dict("block DTMF", kv{"call-id": "c-unsup", "from-tag": "ta"})),
				st("block-media", dict("block media", kv{"call-id": "c-unsup", "from-tag": "ta"})),
			},
			allow: []ngcmp.Allowance{{
				Step:   "play-media",
				Path:   "result|error-reason",
				Reason: "playing media is not implemented: mediad answers with an error naming the command as not supported",
			}},
		},
		{
			name: "recording-commands",
			desc: "recording and forwarding keys and commands on a daemon without a spool directory: answered ok, no recordings listed; their errors, and commands 10.5 does not know (TestCallRecording records)",
			steps: []step{
				st("offer-record", offer("c-rec", "ta", sdpA, kv{"record call": "yes", "metadata": "k=v"})),
				st("answer", answer("c-rec", "ta", "tb", sdpB, kv{"flags": []string{"record-call"}})),
				st("start", dict("start recording", kv{"call-id": "c-rec", "from-tag": "ta", "metadata": "k=w"})),
				st("stop", dict("stop recording", kv{"call-id": "c-rec"})),
				st("offer-off", offer("c-rec", "ta", sdpA, kv{"record call": "off"})),
				st("start-unknown", dict("start recording", kv{"call-id": "c-nosuch"})),
				st("stop-no-call-id", dict("stop recording", nil)),
				st("start-forwarding", dict("start forwarding", kv{"call-id": "c-rec"})),
				st("start-forwarding-tag", dict("start forwarding", kv{"call-id": "c-rec", "from-tag": "tb", "metadata": "k=x"})),
				st("start-forwarding-label", dict("start forwarding", kv{"call-id": "c-rec", "label": "nobody"})),
				st("start-forwarding-unknown-tag", dict("start forwarding", kv{"call-id": "c-rec", "from-tag": "tx"})),
				st("stop-forwarding-all", dict("stop forwarding", kv{"call-id": "c-rec", "flags": []string{"all"}})),
				st("forwarding-unknown-call", dict("stop forwarding", kv{"call-id": "c-nosuch"})),
				st("pause-recording", dict("pause recording", kv{"call-id": "c-rec"})),
				st("later-command", dict("inject start", kv{"call-id": "c-rec"})),
			},
		},
		{
			name: "media-blocking",
			desc: "block, silence and DTMF blocking commands: for the call, by tag, label and address, with flags all, and their errors (TestMediaBlocking checks the packets)",
			steps: []step{
				st("offer", offer("c-block", "ta", sdpA, kv{"label": "caller"})),
				st("answer", answer("c-block", "ta", "tb", sdpB, nil)),
				st("block-media", dict("block media", kv{"call-id": "c-block"})),
				st("unblock-media-all", dict("unblock media", kv{"call-id": "c-block", "flags": []string{"all"}})),
				st("block-media-label", dict("block media", kv{"call-id": "c-block", "label": "caller"})),
				st("silence-media-address", dict("silence media", kv{"call-id": "c-block", "address": "127.0.0.3"})),
				st("unsilence-media-tag", dict("unsilence media", kv{"call-id": "c-block", "from-tag": "tb"})),
				st("block-dtmf-tag", dict("block DTMF", kv{"call-id": "c-block", "from-tag": "tb"})),
				st("unblock-dtmf-all", dict("unblock DTMF", kv{"call-id": "c-block", "all": "all"})),
				st("query", query("c-block", nil)),
				st("unknown-call", dict("block media", kv{"call-id": "c-nosuch"})),
				st("unknown-tag", dict("unblock media", kv{"call-id": "c-block", "from-tag": "tx"})),
				st("unknown-label", dict("silence media", kv{"call-id": "c-block", "label": "nobody"})),
				st("bad-address", dict("block DTMF", kv{"call-id": "c-block", "address": "a.b"})),
				st("unmatched-address", dict("unblock DTMF", kv{"call-id": "c-block", "address": "::1"})),
				st("no-call-id", dict("unsilence media", kv{"from-tag": "ta"})),
				st("delete", del("c-block", nil)),
			},
		},
		{
			name: "err-missing-call-id",
			desc: "offer without call-id",
			steps: []step{
				st("offer", dict("offer", kv{"from-tag": "ta", "sdp": sdpA})),
				st("delete", dict("delete", kv{"from-tag": "ta"})),
				st("query", dict("query", nil)),
			},
		},
		{
			name: "err-missing-from-tag",
			desc: "offer and answer without from-tag",
			steps: []step{
				st("offer", dict("offer", kv{"call-id": "c-nofrom", "sdp": sdpA})),
				st("answer", dict("answer", kv{"call-id": "c-nofrom", "to-tag": "tb", "sdp": sdpB})),
			},
		},
		{
			name: "err-missing-to-tag",
			desc: "answer without to-tag",
			steps: []step{
				st("offer", offer("c-noto", "ta", sdpA, nil)),
				st("answer", dict("answer", kv{"call-id": "c-noto", "from-tag": "ta", "sdp": sdpB})),
			},
		},
		{
			name: "err-missing-sdp",
			desc: "offer and answer without sdp",
			steps: []step{
				st("offer", dict("offer", kv{"call-id": "c-nosdp", "from-tag": "ta"})),
				st("offer-empty", dict("offer", kv{"call-id": "c-nosdp", "from-tag": "ta", "sdp": ""})),
			},
		},
		{
			name: "err-garbage-sdp",
			desc: "SDP bodies that are not SDP",
			steps: []step{
				st("offer", offer("c-garbage", "ta", "this is not SDP", nil)),
				st("offer-no-media", offer("c-garbage2", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nt=0 0\n"), nil)),
				st("offer-bad-m", offer("c-garbage3", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nt=0 0\nm=audio\n"), nil)),
				st("offer-unknown-line", offer("c-garbage4", "ta", sdp("\nv=0\no=- 1 1 IN IP4 127.0.0.2\ns=-\nc=IN IP4 127.0.0.2\nt=0 0\ny=foo\nm=audio 2002 RTP/AVP 0\n"), nil)),
			},
		},
		{
			name: "err-answer-unknown-call",
			desc: "answer for a call that was never offered",
			steps: []step{
				st("answer", answer("c-noanswer", "ta", "tb", sdpB, nil)),
			},
		},
		{
			name: "err-unknown-command",
			desc: "a command rtpengine does not know, and one with the wrong case",
			steps: []step{
				st("bogus", dict("bogus", kv{"call-id": "x"})),
				st("wrong-case", dict("Offer", kv{"call-id": "x", "from-tag": "y", "sdp": sdpA})),
			},
		},
		{
			name: "err-no-command",
			desc: "dictionary without a command key",
			steps: []step{
				{name: "no-command", raw: "d7:call-id3:abce"},
				{name: "empty-dict", raw: "de"},
			},
		},
		{
			name: "err-bencode-garbage",
			desc: "bodies that are not bencode dictionaries",
			steps: []step{
				{name: "truncated", raw: "d7:command4:pi"},
				{name: "bad-length", raw: "d7:command99:pinge"},
				{name: "list", raw: "l4:pinge"},
				{name: "not-bencode", raw: "hello world"},
				{name: "ping-after", cmd: dict("ping", nil)},
			},
		},
		{
			name: "err-json-garbage",
			desc: "bodies that start like JSON but are not",
			steps: []step{
				{name: "truncated", raw: `{"command":"ping"`},
				{name: "not-object", raw: `{]`},
			},
		},
		{
			name: "err-empty-body",
			desc: "a cookie and a space with nothing after them",
			steps: []step{
				{name: "empty", raw: ""},
			},
		},
		{
			name: "err-no-space",
			desc: "a datagram without a space is dropped without reply",
			steps: []step{
				{name: "no-space", datagram: "justacookie", expectNoReply: true},
				{name: "ping-after", cmd: dict("ping", nil)},
			},
		},
	}
}

// scenarios is the whole table, in the order it runs.
func scenarios() []scenario {
	var out []scenario
	out = append(out, basicScenarios()...)
	out = append(out, mediaScenarios()...)
	out = append(out, webrtcScenarios()...)
	out = append(out, controlScenarios()...)
	out = append(out, sdpFormScenarios()...)
	out = append(out, codecFlagScenarios()...)
	return out
}
