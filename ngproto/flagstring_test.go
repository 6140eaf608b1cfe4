package ngproto

import (
	"reflect"
	"testing"
)

func TestParseFlagString(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		dialect Dialect
		want    Dict
	}{
		{"seed rtp/avp", "RTP/AVP replace-session-connection replace-origin ICE=remove", OpenSIPS,
			Dict{"ICE": "remove", "replace": []any{"session-connection", "origin"}, "transport-protocol": "RTP/AVP"}},
		{"seed rtp/avp kamailio", "RTP/AVP replace-session-connection replace-origin ICE=remove", Kamailio,
			Dict{"ICE": "remove", "replace": []any{"session-connection", "origin"}, "transport-protocol": "RTP/AVP"}},
		{"seed relay", "ICE=force-relay DTLS=passive", OpenSIPS, Dict{"ICE": "force-relay", "DTLS": "passive"}},
		{"seed relay kamailio", "ICE=force-relay DTLS=passive", Kamailio, Dict{"ICE": "force-relay", "DTLS": "passive"}},
		{"seed webrtc", "UDP/TLS/RTP/SAVPF ICE=force", OpenSIPS, Dict{"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF"}},
		{"seed webrtc kamailio", "UDP/TLS/RTP/SAVPF ICE=force", Kamailio, Dict{"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF"}},
		{"transport bits", "RTP AVP SRTP AVPF", OpenSIPS, Dict{"transport-protocol": "RTP/SAVPF"}},
		{"kamailio dtls bits", "DTLS SRTP AVPF", Kamailio, Dict{}}, // 0x107 has no table entry
		{"kamailio dtls avpf", "RTP DTLS AVPF", Kamailio, Dict{"transport-protocol": "UDP/TLS/RTP/SAVPF"}},
		{"opensips replace names", "replace-SDP-version replace-zero-address replace-session-name replace-username replace-foo", OpenSIPS,
			Dict{"replace": []any{"SDP version", "zero address", "session name", "username"}, "flags": []any{"replace-foo"}}},
		{"kamailio replace any", "replace-foo replace=origin", Kamailio, Dict{"replace": []any{"foo", "origin"}}},
		{"rtcp-mux", "rtcp-mux-demux rtcp-mux-require", OpenSIPS, Dict{"rtcp-mux": []any{"demux", "require"}}},
		{"rtcp-mux kamailio", "rtcp-mux-offer rtcp-mux=accept", Kamailio, Dict{"rtcp-mux": []any{"offer", "accept"}}},
		{"opensips ifaces", "in-iface=pub out-iface=priv trust-address", OpenSIPS,
			Dict{"direction": []any{"pub", "priv"}, "flags": []any{"trust-address"}}},
		{"opensips internal external", "internal external", OpenSIPS, Dict{"direction": []any{"internal", "external"}}},
		{"kamailio direction", "direction=pub direction=priv", Kamailio, Dict{"direction": []any{"pub", "priv"}}},
		{"kamailio internal", "external internal", Kamailio, Dict{"direction": []any{"external", "internal"}}},
		{"delete-delay opensips", "delete-delay=30", OpenSIPS, Dict{"delete-delay": int64(30)}},
		{"delete-delay kamailio", "delete-delay=30", Kamailio, Dict{"delete delay": int64(30), "delete-delay": "30"}},
		{"address family", "address-family=IP6", OpenSIPS, Dict{"address family": "IP6"}},
		{"kamailio address family generic", "address-family=IP6", Kamailio, Dict{"address-family": "IP6"}},
		{"kamailio sdes codecs", "SDES-off SDES-no-AES_CM_128_HMAC_SHA1_32 codec-strip-PCMA transcode-opus codec-mask=G722 T38-decode TOS=184", Kamailio,
			Dict{"SDES": []any{"off", "no-AES_CM_128_HMAC_SHA1_32"}, "codec": Dict{"strip": []any{"PCMA"}, "transcode": []any{"opus"}, "mask": []any{"G722"}},
				"T.38": []any{"decode"}, "TOS": int64(184)}},
		{"opensips sdes is a flag", "SDES-off codec-strip-PCMA", OpenSIPS, Dict{"flags": []any{"SDES-off", "codec-strip-PCMA"}}},
		{"opensips brackets", "codec=[strip=[all] transcode=[PCMA opus] offer=x--y] flags=[a b..c]", OpenSIPS,
			Dict{"codec": Dict{"strip": []any{"all"}, "transcode": []any{"PCMA", "opus"}, "offer": "x=y"}, "flags": []any{"a", "b c"}}},
		{"received-from opensips", "received-from=10.0.0.1", OpenSIPS, Dict{"received-from": []any{"IP4", "10.0.0.1"}}},
		{"received-from kamailio v6", "received-from=::1", Kamailio, Dict{"received-from": []any{"IP6", "::1"}}},
		{"received-from kamailio bad", "received-from=nope", Kamailio, Dict{}},
		{"tags", "call-id=abc from-tag=ft to-tag=tt", OpenSIPS, Dict{"call-id": "abc", "from-tag": "ft", "to-tag": "tt"}},
		{"opensips directional", "directional", OpenSIPS, Dict{"flags": []any{"directional"}}},
		{"kamailio directional", "directional", Kamailio, Dict{}},
		{"via-branch-param", "via-branch-param=z9hG4bK1", OpenSIPS, Dict{"via-branch": "z9hG4bK1"}},
		{"repacketize", "repacketize=20", Kamailio, Dict{"repacketize": int64(20)}},
		{"misc values", "label=x media-address=1.2.3.4  trust-address  ", OpenSIPS,
			Dict{"label": "x", "media-address": "1.2.3.4", "flags": []any{"trust-address"}}},
		{"daemon", "RTP/SAVP replace-origin ICE=remove internal external to-tag=t1 delete-delay=5 codec-strip=PCMA rtcp-mux=[demux offer]", Daemon,
			Dict{"transport-protocol": "RTP/SAVP", "flags": []any{"replace-origin", "to-tag"}, "ICE": "remove",
				"from-interface": "internal", "to-interface": "external", "to-tag": "t1", "delete-delay": "5",
				"codec": Dict{"strip": []any{"PCMA"}}, "rtcp-mux": []any{"demux", "offer"}}},
		{"empty", "", Kamailio, Dict{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseFlagString(c.in, c.dialect)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%q (%v)\n got %#v\nwant %#v", c.in, c.dialect, got, c.want)
			}
		})
	}
}

func TestParseModuleFlagsContext(t *testing.T) {
	mf, err := ParseModuleFlags("via-branch=auto force-answer to-tag from-tag=x", OpenSIPS)
	if err != nil {
		t.Fatal(err)
	}
	if mf.ViaBranch != "auto" || !mf.ForceAnswer || !mf.ToTagFlag || !mf.Directional || mf.FromTag != "x" {
		t.Fatalf("%+v", mf)
	}
	mf, err = ParseModuleFlags("via-branch=auto-next", Kamailio)
	if err != nil || mf.ViaBranch != "auto-next" {
		t.Fatalf("%+v %v", mf, err)
	}
}

func TestParseFlagStringErrors(t *testing.T) {
	for _, c := range []struct {
		in string
		d  Dialect
	}{
		{"in-iface=a", OpenSIPS},
		{"external", OpenSIPS},
		{"via-branch=3", OpenSIPS},
		{"via-branch=next", OpenSIPS},
		{"via-branch", Kamailio},
		{"call-id", Kamailio},
		{"from-tag", OpenSIPS},
		{"address-family=IP5", OpenSIPS},
		{"received-from=host", OpenSIPS},
		{"codec=[strip=[all]", OpenSIPS},
		{"repacketize=0", OpenSIPS},
		{"x=[[[[[[[[[[a]]]]]]]]]]", OpenSIPS},
	} {
		if d, err := ParseFlagString(c.in, c.d); err == nil {
			t.Errorf("%q (%v): no error, got %v", c.in, c.d, d)
		}
	}
}

func TestParseRequestRTPPFlags(t *testing.T) {
	r, err := ParseRequest(Dict{"command": "offer", "rtpp-flags": "RTP/AVP replace-origin ICE=remove trust-address SDES-off",
		"flags": []any{"strict-source"}, "ICE": "force"})
	if err != nil {
		t.Fatal(err)
	}
	if r.TransportProtocol != "RTP/AVP" || r.ICE != "force" || !r.Flags["trust-address"] || !r.Flags["strict-source"] ||
		!reflect.DeepEqual(r.Replace, []string{"origin"}) || !reflect.DeepEqual(r.SDES, []string{"off"}) {
		t.Fatalf("%+v", r)
	}
	if r.Raw.Has("rtpp-flags") {
		t.Fatal("rtpp-flags kept in Raw")
	}
}
