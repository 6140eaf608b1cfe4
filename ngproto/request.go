package ngproto

import (
	"fmt"
	"strings"
)

// Request is the typed view of an NG command dictionary. Unknown keys stay
// available in Raw.
type Request struct {
	Command                           string // exact NG command ("offer", "start recording", ...)
	CallID, FromTag, ToTag, ViaBranch string
	Label, ToLabel, SetLabel          string
	SDP                               string
	// Flags holds canonical flag names: lower-case, '-' separated.
	Flags map[string]bool
	// Replace holds canonical lower-case replace options.
	Replace []string
	RTCPMux []string // "offer","require","demux","accept","reject"
	ICE     string   // "", "remove","force","default","optional","force-relay"
	ICELite string   // "", "off","forward","backward","both"
	DTLS    string   // "", "passive","active","off"
	// DTLSReverse is the DTLS-reverse value; DTLSFingerprint the hash name.
	DTLSReverse, DTLSFingerprint string
	SDES                         []string // "off", "no-<suite>", "only-<suite>", ...
	OSRTP                        []string // "offer","offer-rfc","offer-legacy","accept",...
	Bundle                       []string // "offer","require","accept","reject","strict"
	T38                          []string
	TransportProtocol            string // "RTP/AVP", ..., "accept"
	MediaAddress                 string
	AddressFamily                string   // "IP4"/"IP6"
	ReceivedFrom                 []string // [family, address] as sent; a plain string becomes ["", addr]
	Direction                    []string
	Interface                    string
	DeleteDelay                  int64 // valid when HasDeleteDelay
	HasDeleteDelay               bool
	TOS                          int64 // valid when HasTOS
	HasTOS                       bool
	EndpointLearning             string
	// RecordCall is the "record call" key ("yes", "on", "no", "off");
	// Metadata the "metadata" key, for call recording.
	RecordCall, Metadata string
	Supports             []string
	FromTags             []string
	// Codec is the "codec" dictionary with codec-* flags folded in; every
	// value is a []any of strings.
	Codec Dict
	Limit int64  // "list"
	Body  string // "cli" command text
	// Raw is the whole dictionary, with rtpp-flags already merged in.
	Raw Dict
}

// Flag reports whether a flag is set; name may be in any spelling rtpengine
// accepts ("trust address", "trust-address", "Trust_Address").
func (r *Request) Flag(name string) bool {
	return r.Flags[canonFlag(name)]
}

// SupportsLoadLimit reports supports:["load limit"].
func (r *Request) SupportsLoadLimit() bool {
	for _, s := range r.Supports {
		if s == "load limit" || canonFlag(s) == "load-limit" {
			return true
		}
	}
	return false
}

// canonFlag lower-cases and turns space/underscore into '-', as for keys.
func canonFlag(s string) string { return normKey(strings.TrimSpace(s)) }

// flagAliases maps spellings rtpengine treats as the same flag onto one
// canonical name (daemon/call_flags.c, call_ng_flags_flags).
var flagAliases = map[string]string{
	"allow-asymmetric-codec":   "allow-asymmetric-codecs",
	"allow-no-codec-medias":    "allow-no-codec-media",
	"allow-empty-codec-media":  "allow-no-codec-media",
	"allow-empty-codec-medias": "allow-no-codec-media",
	"player":                   "audio-player",
	"no-audio-player":          "no-player",
	"block-shorts":             "block-short",
	"block-short-packets":      "block-short",
	"debugging":                "debug",
	"ice-reject":               "reject-ice",
	"rtcp-mirror":              "mirror-rtcp",
	"mixed":                    "mix",
	"no-codec-renegotiation":   "reuse-codecs",
	"static-codec":             "static-codecs",
	"skip-recording-database":  "skip-recording-db",
	"trickle":                  "trickle-ice",
}

// listKeys are the NG keys whose value is a list (or a comma separated
// string), merged rather than overridden when rtpp-flags also sets them.
var listKeys = []string{"flags", "replace", "rtcp-mux", "ICE", "DTLS", "SDES", "OSRTP", "supports", "T.38", "bundle", "from-tags"}

// ParseRequest types a command dictionary. If "rtpp-flags" is present it is
// parsed with ParseFlagString (Daemon dialect, the rules of the daemon's
// own parser mirrors) and merged first; explicit keys win, list keys are
// concatenated. The WebRTC flag expands as in rtpengine (ng_flags_webrtc),
// and prefix forms inside flags (replace-X, rtcp-mux-X, SDES-X, OSRTP-X,
// BUNDLE-X, codec-*-X, transcode-X, T38-X, endpoint-learning-X,
// from-tags-X) are folded into their lists.
func ParseRequest(d Dict) (*Request, error) {
	if d == nil {
		return nil, ErrNoCommand
	}
	if v, ok := d.Get("rtpp-flags"); ok {
		s, _ := v.(string)
		fd, err := ParseFlagString(s, Daemon)
		if err != nil {
			return nil, fmt.Errorf("rtpp-flags: %w", err)
		}
		d = mergeFlagDict(fd, d)
	}
	v := newKeyView(d)
	cmd, ok := v.Get("command")
	if !ok {
		return nil, ErrNoCommand
	}
	r := &Request{Raw: d, Flags: map[string]bool{}}
	r.Command, _ = cmd.(string)
	if r.Command == "" {
		return nil, ErrNoCommand
	}
	r.CallID = v.Str("call-id")
	r.FromTag = v.Str("from-tag")
	r.ToTag = v.Str("to-tag")
	r.ViaBranch = v.Str("via-branch")
	r.Label = v.Str("label")
	if r.Label == "" {
		r.Label = v.Str("from-label")
	}
	r.ToLabel = v.Str("to-label")
	r.SetLabel = v.Str("set-label")
	r.SDP = v.Str("sdp")
	r.TransportProtocol = v.Str("transport-protocol")
	r.MediaAddress = v.Str("media-address")
	r.AddressFamily = strings.ToUpper(v.Str("address-family"))
	r.Interface = v.Str("interface")
	r.DTLSFingerprint = v.Str("DTLS-fingerprint")
	r.Body = v.Str("body")
	r.RecordCall = v.Str("record-call")
	r.Metadata = v.Str("metadata")
	if n, ok := v.Int("limit"); ok {
		r.Limit = n
	}
	if n, ok := v.Int("delete-delay"); ok {
		r.DeleteDelay, r.HasDeleteDelay = n, true
	}
	if n, ok := v.Int("TOS"); ok {
		r.TOS, r.HasTOS = n, true
	}
	if x, ok := v.Get("received-from"); ok {
		if s, isStr := x.(string); isStr {
			r.ReceivedFrom = []string{"", s}
		} else {
			r.ReceivedFrom = toList(x)
		}
	}
	if x, ok := v.Get("direction"); ok {
		r.Direction = toList(x)
	}
	if from, to := v.Str("from-interface"), v.Str("to-interface"); from != "" || to != "" {
		r.Direction = []string{from, to}
	}
	if c := v.Sub("codec"); c != nil {
		r.Codec = c.Clone()
	}
	for _, s := range v.List("replace") {
		r.addReplace(s)
	}
	for _, s := range v.List("rtcp-mux") {
		r.RTCPMux = appendUniq(r.RTCPMux, strings.ToLower(s))
	}
	for _, s := range v.List("ICE") {
		r.setICE(s)
	}
	if s := v.Str("ICE-lite"); s != "" {
		r.ICELite = canonICELite(s)
	}
	for _, s := range v.List("DTLS") {
		r.DTLS = canonDTLS(s)
	}
	if s := v.Str("DTLS-reverse"); s != "" {
		r.DTLSReverse = canonDTLS(s)
	}
	for _, s := range v.List("SDES") {
		r.SDES = appendUniq(r.SDES, canonSDES(s))
	}
	for _, s := range v.List("OSRTP") {
		r.OSRTP = appendUniq(r.OSRTP, strings.ToLower(s))
	}
	for _, s := range v.List("bundle") {
		r.Bundle = appendUniq(r.Bundle, strings.ToLower(s))
	}
	for _, s := range v.List("T.38") {
		r.T38 = appendUniq(r.T38, s)
	}
	if x, ok := v.Get("T38"); ok {
		for _, s := range toList(x) {
			r.T38 = appendUniq(r.T38, s)
		}
	}
	for _, s := range v.List("endpoint-learning") {
		r.EndpointLearning = strings.ToLower(s)
	}
	r.Supports = v.List("supports")
	r.FromTags = v.List("from-tags")
	// Flags last: WebRTC only fills in what explicit keys left open.
	for _, f := range v.List("flags") {
		r.addFlag(f)
	}
	return r, nil
}

func (r *Request) addReplace(s string) {
	r.Replace = appendUniq(r.Replace, canonFlag(s))
}

func (r *Request) setICE(s string) {
	c := canonFlag(s)
	switch {
	case c == "trickle":
		r.Flags["trickle-ice"] = true
	case c == "ice2":
		r.Flags["ice2"] = true
	case c == "lite" || c == "no-lite" || strings.HasPrefix(c, "lite-"):
		r.ICELite = canonICELite(strings.TrimPrefix(strings.TrimPrefix(c, "lite"), "-"))
		if c == "no-lite" {
			r.ICELite = "off"
		}
	default:
		r.ICE = c
	}
}

func canonICELite(s string) string {
	switch canonFlag(s) {
	case "off", "none", "no":
		return "off"
	case "", "forward", "offer", "fwd", "fw":
		return "forward"
	case "backward", "backwards", "reverse", "answer", "back", "bkw", "bk":
		return "backward"
	case "both":
		return "both"
	}
	return canonFlag(s)
}

func canonDTLS(s string) string {
	switch c := canonFlag(s); c {
	case "no", "off", "disabled", "disable":
		return "off"
	default:
		return c
	}
}

func canonSDES(s string) string {
	switch c := canonFlag(s); c {
	case "no", "off", "disabled", "disable":
		return "off"
	case "priority":
		return "prefer"
	case "unencrypted-srtp", "unencrypted-srtcp", "unauthenticated-srtp",
		"encrypted-srtp", "encrypted-srtcp", "authenticated-srtp":
		return strings.ReplaceAll(c, "-", "_")
	}
	// suite names keep their spelling: no-AES_CM_128_HMAC_SHA1_80
	return s
}

// prefix folding, longest prefixes first where one is a prefix of another.
var flagPrefixes = []struct {
	prefix string
	apply  func(r *Request, suffix string)
}{
	{"replace-", func(r *Request, s string) { r.addReplace(s) }},
	{"rtcp-mux-", func(r *Request, s string) { r.RTCPMux = appendUniq(r.RTCPMux, strings.ToLower(s)) }},
	{"sdes-", func(r *Request, s string) { r.SDES = appendUniq(r.SDES, canonSDES(s)) }},
	{"osrtp-", func(r *Request, s string) { r.OSRTP = appendUniq(r.OSRTP, strings.ToLower(s)) }},
	{"bundle-", func(r *Request, s string) { r.Bundle = appendUniq(r.Bundle, strings.ToLower(s)) }},
	{"endpoint-learning-", func(r *Request, s string) { r.EndpointLearning = strings.ToLower(s) }},
	{"from-tags-", func(r *Request, s string) { r.FromTags = append(r.FromTags, s) }},
	{"codec-strip-", codecAdder("strip")},
	{"codec-offer-", codecAdder("offer")},
	{"codec-except-", codecAdder("except")},
	{"codec-ignore-", codecAdder("ignore")},
	{"codec-transcode-", codecAdder("transcode")},
	{"codec-mask-", codecAdder("mask")},
	{"codec-accept-", codecAdder("accept")},
	{"codec-consume-", codecAdder("consume")},
	{"codec-set-", codecAdder("set")},
	{"transcode-", codecAdder("transcode")},
	{"t38-", func(r *Request, s string) { r.T38 = appendUniq(r.T38, s) }},
	{"t.38-", func(r *Request, s string) { r.T38 = appendUniq(r.T38, s) }},
}

func codecAdder(key string) func(r *Request, s string) {
	return func(r *Request, s string) { r.addCodec(key, s) }
}

func (r *Request) addCodec(key, val string) {
	if r.Codec == nil {
		r.Codec = Dict{}
	}
	var l []any
	switch cur := r.Codec[key].(type) {
	case []any:
		l = cur
	case string:
		for _, s := range splitList(cur) {
			l = append(l, s)
		}
	}
	r.Codec[key] = append(l, val)
}

func (r *Request) addFlag(f string) {
	c := canonFlag(f)
	if c == "" {
		return
	}
	for _, p := range flagPrefixes {
		if len(c) > len(p.prefix) && strings.HasPrefix(c, p.prefix) {
			// the suffix keeps its spelling (codec and suite names)
			p.apply(r, strings.TrimSpace(f)[len(p.prefix):])
			return
		}
	}
	if a, ok := flagAliases[c]; ok {
		c = a
	}
	r.Flags[c] = true
	if c == "webrtc" {
		r.expandWebRTC()
	}
}

// expandWebRTC applies ng_flags_webrtc (include/call_flags.h) to whatever
// explicit keys left unset.
func (r *Request) expandWebRTC() {
	if r.TransportProtocol == "" {
		r.TransportProtocol = "UDP/TLS/RTP/SAVPF"
	}
	if r.ICE == "" {
		r.ICE = "force"
	}
	r.Flags["trickle-ice"] = true
	r.RTCPMux = appendUniq(appendUniq(r.RTCPMux, "offer"), "require")
	r.Flags["no-rtcp-attribute"] = true
	r.SDES = appendUniq(r.SDES, "off")
	r.Flags["generate-mid"] = true
	r.Bundle = appendUniq(appendUniq(r.Bundle, "offer"), "require")
}

func appendUniq(l []string, s string) []string {
	for _, e := range l {
		if e == s {
			return l
		}
	}
	return append(l, s)
}

// mergeFlagDict merges the dictionary parsed from rtpp-flags (base) with
// the request's own keys: list keys are concatenated, other explicit keys
// win. The rtpp-flags key itself is dropped.
func mergeFlagDict(base, d Dict) Dict {
	out := make(Dict, len(base)+len(d))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range d {
		if normKey(k) == "rtpp-flags" {
			continue
		}
		nk := normKey(k)
		merged := false
		for _, lk := range listKeys {
			if normKey(lk) != nk {
				continue
			}
			if bv, ok := out.Get(k); ok {
				l := append(toAnyList(bv), toAnyList(v)...)
				out.Delete(k)
				out[k] = l
				merged = true
			}
			break
		}
		if !merged {
			out.Delete(k)
			out[k] = v
		}
	}
	return out
}

func toAnyList(v any) []any {
	ss := toList(v)
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
