package ngcmp

import (
	"reflect"
	"strings"
	"testing"
)

func TestSDPNormalisesDaemonValues(t *testing.T) {
	n := NewNormalizer(30000, 30999)
	n.NoteRequestSDP("v=0\r\no=- 1545997027 1 IN IP4 127.0.0.2\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:copiedkey\r\na=ice-ufrag:theirs\r\n")
	in := strings.Join([]string{
		"v=0",
		"o=- 1545997027 1 IN IP4 127.0.0.2",
		"o=- 999 1 IN IP4 127.0.0.2",
		"a=rtpengine:b5e65bb99d25",
		"m=audio 30000 RTP/AVP 0 8000",
		"a=rtcp:30001",
		"a=rtcp:30001 IN IP4 127.0.0.1",
		"a=ice-ufrag:9CYCGXQk",
		"a=ice-pwd:hLTjv3j5qvJxV9hX0vDB9Kgt3N",
		"a=candidate:MBjnFOS7IApuWXCl 1 UDP 2130706431 127.0.0.1 30000 typ host",
		"a=candidate:LPNzpxavom135stg 1 UDP 2130706175 ::1 30066 typ host",
		"a=candidate:MBjnFOS7IApuWXCl 2 UDP 2130706430 127.0.0.1 30001 typ relay raddr ::1 rport 30066",
		"a=fingerprint:sha-256 AB:CD",
		"a=tls-id:0123456789abcdef0123456789abcdef",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Z3J1bnR5c2VjcmV0a2V5aXNncmVhdGJveTEy|2^31",
		"m=video 2000 RTP/AVP 96",
		"m=audio 30002 RTP/AVP 0",
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:copiedkey",
		"a=ice-ufrag:theirs",
		"",
	}, "\r\n")
	got := n.SDP(in)
	want := []string{
		"v=0",
		"o=- 1545997027 1 IN IP4 127.0.0.2",
		"o=- SESSID1 1 IN IP4 127.0.0.2",
		"a=rtpengine:LOOPER1",
		"m=audio PORT1 RTP/AVP 0 8000",
		"a=rtcp:PORT1+1",
		"a=rtcp:PORT1+1 IN IP4 127.0.0.1",
		"a=ice-ufrag:ICEUFRAG1",
		"a=ice-pwd:ICEPWD1",
		"a=candidate:FOUNDATION1 1 UDP 2130706431 127.0.0.1 PORT1 typ host",
		"a=candidate:FOUNDATION2 1 UDP 2130706175 ::1 CPORT1 typ host",
		"a=candidate:FOUNDATION1 2 UDP 2130706430 127.0.0.1 PORT1+1 typ relay raddr ::1 rport CPORT1",
		"a=fingerprint:sha-256 FINGERPRINT1",
		"a=tls-id:TLSID1",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY1(len 36)|2^31",
		"m=video 2000 RTP/AVP 96",
		"m=audio PORT2 RTP/AVP 0",
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:copiedkey",
		"a=ice-ufrag:theirs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A daemon with an address of each family may give an IPv4 and an IPv6
// stream the same port number; they are different ports.
func TestPortsAreToldApartByFamily(t *testing.T) {
	n := NewNormalizer(30000, 30999)
	in := strings.Join([]string{
		"c=IN IP4 127.0.0.1",
		"m=audio 30000 RTP/AVP 0",
		"c=IN IP6 ::1",
		"a=rtcp:30001",
		"a=candidate:x 1 UDP 1 127.0.0.1 30000 typ host",
		"m=audio 30000 RTP/AVP 0",
		"a=rtcp:30001 IN IP6 ::1",
		"m=audio 30002 RTP/AVP 0",
		"c=IN IP6 ::1",
		"",
	}, "\r\n")
	want := []string{
		"c=IN IP4 127.0.0.1",
		"m=audio PORT1 RTP/AVP 0",
		"c=IN IP6 ::1",
		"a=rtcp:PORT1+1",
		"a=candidate:FOUNDATION1 1 UDP 1 127.0.0.1 CPORT1 typ host",
		"m=audio PORT2 RTP/AVP 0",
		"a=rtcp:PORT1+1 IN IP6 ::1",
		"m=audio PORT3 RTP/AVP 0",
		"c=IN IP6 ::1",
	}
	if got := n.SDP(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got := n.Reply(map[string]any{"streams": []any{
		map[string]any{"family": "IPv6", "local port": int64(30002)},
		map[string]any{"family": "IPv4", "local port": int64(30002)},
		map[string]any{"local port": int64(30000)},
	}}, Options{})
	wantReply := map[string]any{"streams": []any{
		map[string]any{"family": "IPv6", "local port": "PORT3 (int)"},
		map[string]any{"family": "IPv4", "local port": "PORT4 (int)"},
		map[string]any{"local port": "PORT2 (int)"},
	}}
	if !reflect.DeepEqual(got, wantReply) {
		t.Fatalf("got %v\nwant %v", got, wantReply)
	}
}

func TestSDPMarksLineEndings(t *testing.T) {
	got := NewNormalizer(1, 2).SDP("v=0\nm=audio 9 RTP/AVP 0")
	want := []string{"v=0 <LF only>", "m=audio 9 RTP/AVP 0 <no final line break>"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestReplyNormalisesTimesPortsAndLists(t *testing.T) {
	n := NewNormalizer(30000, 30999)
	got := n.Reply(map[string]any{
		"created":    int64(1796028950),
		"created_us": int64(461179),
		"calls":      []any{"b", "a"},
		"tags": map[string]any{"ta": map[string]any{
			"local port": int64(30002),
			"endpoint":   map[string]any{"port": int64(2000)},
		}},
	}, Options{})
	want := map[string]any{
		"created":    "<time int>",
		"created_us": "<time int>",
		"calls":      []any{"a", "b"},
		"tags": map[string]any{"ta": map[string]any{
			"local port": "PORT1 (int)",
			"endpoint":   map[string]any{"port": int64(2000)},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	shape := n.Reply(map[string]any{"a": int64(1), "b": []any{map[string]any{"c": "x"}, "y"}}, Options{ShapeOnly: true})
	wantShape := map[string]any{"a": "<int>", "b": []any{map[string]any{"c": "<string>"}}}
	if !reflect.DeepEqual(shape, wantShape) {
		t.Fatalf("shape %v want %v", shape, wantShape)
	}
}

func TestCompareAndAllow(t *testing.T) {
	want := map[string]any{
		"result": "ok",
		"sdp":    []any{"v=0", "m=audio PORT1 RTP/AVP 0", "a=sendrecv", "a=rtcp:PORT1+1"},
		"list":   []any{int64(1), int64(2)},
	}
	got := map[string]any{
		"result":  "ok",
		"sdp":     []any{"v=0", "m=audio PORT1 RTP/AVP 0", "a=x", "a=rtcp:PORT1+1"},
		"list":    []any{int64(1)},
		"warning": "w",
	}
	ds := Compare(want, got)
	var s []string
	for _, d := range ds {
		s = append(s, d.String())
	}
	wantDiffs := []string{
		`list[1]: missing 2 (int64)`,
		`sdp@3: extra a=x`,
		`sdp@3: missing a=sendrecv`,
		`warning: extra "w"`,
	}
	if !reflect.DeepEqual(s, wantDiffs) {
		t.Fatalf("diffs\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(wantDiffs, "\n"))
	}
	a := Allowance{Step: "offer|answer", Path: `sdp@\d+`, Value: `^a=x$`, Reason: "r"}
	if !a.Allows("offer", ds[1]) || a.Allows("offer", ds[2]) || a.Allows("query", ds[1]) || a.Allows("offer", ds[0]) {
		t.Fatalf("allowance matched wrongly")
	}
	if len(Compare(want, want)) != 0 {
		t.Fatalf("equal values differ")
	}
}
