package ngproto

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRequestBasic(t *testing.T) {
	d := Dict{
		"command": "offer", "call-id": "c1", "from-tag": "ft", "sdp": "v=0",
		"flags":              []any{"trust address", "SIP-source-address", "replace-origin", "rtcp-mux-demux", "SDES-no-AES_CM_128_HMAC_SHA1_32", "OSRTP-offer-RFC", "codec-strip-PCMA", "transcode-opus", "Strict_Source", "ice-reject", "loop protect"},
		"replace":            "SDP-version,session name",
		"rtcp mux":           []any{"offer"},
		"ICE":                "force_relay",
		"DTLS":               "disable",
		"SDES":               []any{"off"},
		"transport_protocol": "RTP/SAVP",
		"delete delay":       "12",
		"received-from":      []any{"IP4", "1.2.3.4"},
		"direction":          []any{"pub", "priv"},
		"codec":              Dict{"strip": []any{"G722"}},
		"supports":           []any{"load limit"},
		"unknown-key":        "kept",
	}
	r, err := ParseRequest(d)
	if err != nil {
		t.Fatal(err)
	}
	wantFlags := map[string]bool{"trust-address": true, "sip-source-address": true, "strict-source": true, "reject-ice": true, "loop-protect": true}
	if !reflect.DeepEqual(r.Flags, wantFlags) {
		t.Errorf("flags %v", r.Flags)
	}
	if !reflect.DeepEqual(r.Replace, []string{"sdp-version", "session-name", "origin"}) {
		t.Errorf("replace %v", r.Replace)
	}
	if !reflect.DeepEqual(r.RTCPMux, []string{"offer", "demux"}) {
		t.Errorf("rtcp-mux %v", r.RTCPMux)
	}
	if !reflect.DeepEqual(r.SDES, []string{"off", "no-AES_CM_128_HMAC_SHA1_32"}) {
		t.Errorf("sdes %v", r.SDES)
	}
	if !reflect.DeepEqual(r.OSRTP, []string{"offer-rfc"}) {
		t.Errorf("osrtp %v", r.OSRTP)
	}
	if r.ICE != "force-relay" || r.DTLS != "off" || r.TransportProtocol != "RTP/SAVP" {
		t.Errorf("ice %q dtls %q tp %q", r.ICE, r.DTLS, r.TransportProtocol)
	}
	if !r.HasDeleteDelay || r.DeleteDelay != 12 {
		t.Errorf("delete delay")
	}
	if !reflect.DeepEqual(r.ReceivedFrom, []string{"IP4", "1.2.3.4"}) || !reflect.DeepEqual(r.Direction, []string{"pub", "priv"}) {
		t.Errorf("rf %v dir %v", r.ReceivedFrom, r.Direction)
	}
	if !reflect.DeepEqual(r.Codec, Dict{"strip": []any{"G722", "PCMA"}, "transcode": []any{"opus"}}) {
		t.Errorf("codec %v", r.Codec)
	}
	if d.Sub("codec")["strip"].([]any)[0] != "G722" || len(d.Sub("codec")["strip"].([]any)) != 1 {
		t.Errorf("input codec modified")
	}
	if !r.SupportsLoadLimit() || r.Raw.Str("unknown-key") != "kept" || r.CallID != "c1" || r.FromTag != "ft" || r.SDP != "v=0" {
		t.Errorf("misc %+v", r)
	}
	if !r.Flag("Trust Address") {
		t.Error("Flag() alias")
	}
}

func TestParseRequestWebRTC(t *testing.T) {
	r, err := ParseRequest(Dict{"command": "offer", "flags": "WebRTC", "ICE": "remove"})
	if err != nil {
		t.Fatal(err)
	}
	if r.TransportProtocol != "UDP/TLS/RTP/SAVPF" || r.ICE != "remove" || !r.Flags["trickle-ice"] ||
		!r.Flags["no-rtcp-attribute"] || !r.Flags["generate-mid"] ||
		!reflect.DeepEqual(r.RTCPMux, []string{"offer", "require"}) || !reflect.DeepEqual(r.SDES, []string{"off"}) ||
		!reflect.DeepEqual(r.Bundle, []string{"offer", "require"}) {
		t.Errorf("%+v", r)
	}
}

func TestParseRequestErrors(t *testing.T) {
	for _, d := range []Dict{nil, {}, {"command": int64(1)}, {"call-id": "x"}} {
		_, err := ParseRequest(d)
		if !errors.Is(err, ErrNoCommand) || Reason(err) != `Dictionary contains no key "command"` {
			t.Errorf("%v: %v", d, err)
		}
	}
}

func TestParseRequestICEVariants(t *testing.T) {
	r, _ := ParseRequest(Dict{"command": "offer", "ICE": []any{"lite-bkw", "trickle", "optional"}})
	if r.ICE != "optional" || r.ICELite != "backward" || !r.Flags["trickle-ice"] {
		t.Errorf("%+v", r)
	}
	r, _ = ParseRequest(Dict{"command": "offer", "ICE-lite": "fw"})
	if r.ICELite != "forward" {
		t.Errorf("%q", r.ICELite)
	}
}

func TestParseRequestMoreKeys(t *testing.T) {
	r, err := ParseRequest(Dict{"command": "offer", "replace": "session-connection", "received from": "10.0.0.1",
		"from-interface": "pub", "to_interface": "priv", "address family": "ip6", "media address": "::1",
		"DTLS-reverse": "passive", "DTLS fingerprint": "sha-256", "OSRTP": "accept-RFC", "endpoint-learning": "Heuristic",
		"label": "l1", "to-label": "l2", "set-label": "l3", "via-branch": "z9", "interface": "if0", "limit": "7",
		"body": "list totals", "flags": "BUNDLE-require, endpoint-learning-delayed, T38-decode, from-tags-a, always transcode"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Replace, []string{"session-connection"}) || !reflect.DeepEqual(r.ReceivedFrom, []string{"", "10.0.0.1"}) ||
		!reflect.DeepEqual(r.Direction, []string{"pub", "priv"}) || r.AddressFamily != "IP6" || r.MediaAddress != "::1" ||
		r.DTLSReverse != "passive" || r.DTLSFingerprint != "sha-256" || !reflect.DeepEqual(r.OSRTP, []string{"accept-rfc"}) ||
		r.EndpointLearning != "delayed" || r.Label != "l1" || r.ToLabel != "l2" || r.SetLabel != "l3" || r.ViaBranch != "z9" ||
		r.Interface != "if0" || r.Limit != 7 || r.Body != "list totals" || !reflect.DeepEqual(r.Bundle, []string{"require"}) ||
		!reflect.DeepEqual(r.T38, []string{"decode"}) || !reflect.DeepEqual(r.FromTags, []string{"a"}) || !r.Flags["always-transcode"] {
		t.Fatalf("%+v", r)
	}
}
