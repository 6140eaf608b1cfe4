// Package ngcmp makes NG replies from two daemons comparable: it replaces
// the values each daemon chooses freely (media ports, ICE credentials,
// DTLS fingerprints, SDES keys, loop-protect ids, timestamps) by symbols
// numbered in order of first appearance, so that relations such as "the
// re-offer kept its port" or "RTCP is RTP+1" survive, and then diffs the
// normalised replies structurally.
package ngcmp

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// symbols numbers distinct values of one kind in order of appearance.
type symbols struct {
	prefix string
	m      map[string]string
	n      int
}

func (s *symbols) get(v string) string {
	if s.m == nil {
		s.m = map[string]string{}
	}
	if sym, ok := s.m[v]; ok {
		return sym
	}
	s.n++
	sym := s.prefix + strconv.Itoa(s.n)
	s.m[v] = sym
	return sym
}

// Normalizer holds the symbol tables of one daemon over one scenario.
// Feed it the daemon's replies in the order they were received.
type Normalizer struct {
	PortMin, PortMax int // the daemon's media port range (-m/-M)

	ports, cports, ufrag, pwd, found, fpr, tlsid, key, looper, sessid symbols
	// input holds o= session ids, ICE credentials, fingerprints, tls-ids and
	// SDES keys found in the SDPs the test sent: a daemon that copies one
	// must copy it literally, only values it made up become symbols.
	input map[string]bool
}

// NewNormalizer returns a normalizer for a daemon using ports [min, max].
func NewNormalizer(min, max int) *Normalizer {
	return &Normalizer{
		PortMin: min, PortMax: max,
		ports:  symbols{prefix: "PORT"},
		cports: symbols{prefix: "CPORT"},
		ufrag:  symbols{prefix: "ICEUFRAG"},
		pwd:    symbols{prefix: "ICEPWD"},
		found:  symbols{prefix: "FOUNDATION"},
		fpr:    symbols{prefix: "FINGERPRINT"},
		tlsid:  symbols{prefix: "TLSID"},
		key:    symbols{prefix: "KEY"},
		looper: symbols{prefix: "LOOPER"},
		sessid: symbols{prefix: "SESSID"},
	}
}

// NoteRequestSDP records the freely chosen values of an SDP the test sent
// (o= session id, ICE ufrag/pwd, fingerprint, tls-id, SDES keys), so that
// values a daemon copies stay literal and only values it made up become
// symbols.
func (n *Normalizer) NoteRequestSDP(sdp string) {
	if n.input == nil {
		n.input = map[string]bool{}
	}
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSuffix(l, "\r")
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && strings.HasPrefix(f[0], "o="):
			n.input[f[1]] = true
		case len(f) >= 3 && strings.HasPrefix(f[0], "a=crypto:") && strings.HasPrefix(f[2], "inline:"):
			k, _, _ := strings.Cut(strings.TrimPrefix(f[2], "inline:"), "|")
			n.input[k] = true
		case len(f) == 2 && strings.HasPrefix(f[0], "a=fingerprint:"):
			n.input[f[1]] = true
		default:
			for _, p := range []string{"a=ice-ufrag:", "a=ice-pwd:", "a=tls-id:"} {
				if strings.HasPrefix(l, p) {
					n.input[l[len(p):]] = true
				}
			}
		}
	}
}

// sym returns v itself when the test sent it, else its symbol.
func (n *Normalizer) sym(s *symbols, v string) string {
	if n.input[v] {
		return v
	}
	return s.get(v)
}

// port maps a daemon-chosen port of address family fam ("IP4", "IP6") to
// PORTn, or to PORTn+1 when it is one above an already seen port of the
// same family (RTCP next to RTP), so that relations between ports stay
// visible after normalisation. Ports are told apart by family as well as
// number: a daemon with an address of each family may give an IPv4 and an
// IPv6 stream the same number (rtpengine keeps a port pool per address),
// and whether it does depends on what it allocated before. With fam ""
// (no address in sight) a port already seen in either family keeps its
// symbol; a new one counts as IPv4.
func (n *Normalizer) port(fam, tok string) string {
	p, err := strconv.Atoi(tok)
	if err != nil || p < n.PortMin || p > n.PortMax {
		return tok
	}
	if fam == "" {
		for _, f := range []string{"IP4", "IP6"} {
			if sym, ok := n.ports.m[f+" "+tok]; ok {
				return sym
			}
		}
		fam = "IP4"
	}
	key := fam + " " + tok
	if sym, ok := n.ports.m[key]; ok {
		return sym
	}
	if below, ok := n.ports.m[fam+" "+strconv.Itoa(p-1)]; ok && !strings.Contains(below, "+") {
		if n.ports.m == nil {
			n.ports.m = map[string]string{}
		}
		n.ports.m[key] = below + "+1"
		return below + "+1"
	}
	return n.ports.get(key)
}

// candPort maps a candidate's port: a port already seen in m=/a=rtcp keeps
// its symbol; a port that appears only in candidates (rtpengine gives each
// address of an interface its own ports) is numbered separately, CPORTn,
// so that a daemon that differs only there does not shift the numbering of
// every later port.
func (n *Normalizer) candPort(fam, tok string) string {
	p, err := strconv.Atoi(tok)
	if err != nil || p < n.PortMin || p > n.PortMax {
		return tok
	}
	if sym, ok := n.ports.m[fam+" "+tok]; ok {
		return sym
	}
	return n.cports.get(fam + " " + tok)
}

// family names the address family of an address as SDP does.
func family(addr string) string {
	if strings.Contains(addr, ":") {
		return "IP6"
	}
	return "IP4"
}

var numRE = regexp.MustCompile(`\b\d{2,5}\b`)

// portsIn replaces every number in the media port range, as ports of
// family fam.
func (n *Normalizer) portsIn(fam, s string) string {
	return numRE.ReplaceAllStringFunc(s, func(tok string) string { return n.port(fam, tok) })
}

// lineFamilies gives each SDP line the address family its ports belong to:
// that of the c= line in force for its section (a media section's own c=,
// which follows its m= line, else the session's). Lines that name their
// own address (a=rtcp:PORT IN IP6 ..., candidates) override it.
func lineFamilies(lines []string) []string {
	connFam := func(l string) string {
		if f := strings.Fields(l); len(f) >= 3 && strings.HasPrefix(f[0], "c=") {
			return f[1]
		}
		return ""
	}
	fams := make([]string, len(lines))
	session := ""
	for i := 0; i < len(lines); {
		if !strings.HasPrefix(lines[i], "m=") {
			if c := connFam(lines[i]); c != "" {
				session = c
			}
			fams[i] = session
			i++
			continue
		}
		// A media section: lines[i:end].
		end, fam := i+1, session
		for ; end < len(lines) && !strings.HasPrefix(lines[end], "m="); end++ {
			if c := connFam(lines[end]); c != "" {
				fam = c
			}
		}
		for ; i < end; i++ {
			fams[i] = fam
		}
	}
	return fams
}

// SDP splits an SDP body into normalised lines. A line ending in a bare
// LF instead of CRLF is marked, and a missing final line break shows up as
// a last pseudo-line.
func (n *Normalizer) SDP(sdp string) []string {
	var out []string
	raw := strings.Split(sdp, "\n")
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	fams := lineFamilies(lines)
	last := len(lines) - 1
	for i, l := range lines[:last] {
		l = n.sdpLine(fams[i], l)
		if !strings.HasSuffix(raw[i], "\r") {
			l += " <LF only>"
		}
		out = append(out, l)
	}
	if lines[last] != "" {
		out = append(out, n.sdpLine(fams[last], lines[last])+" <no final line break>")
	}
	return out
}

// sdpLine normalises one line; fam is the address family of the c= line in
// force for it.
func (n *Normalizer) sdpLine(fam, l string) string {
	switch {
	case strings.HasPrefix(l, "o="):
		f := strings.Fields(l)
		if len(f) >= 3 {
			f[1] = n.sym(&n.sessid, f[1])
		}
		return strings.Join(f, " ")
	case strings.HasPrefix(l, "a=ice-ufrag:"):
		return "a=ice-ufrag:" + n.sym(&n.ufrag, l[len("a=ice-ufrag:"):])
	case strings.HasPrefix(l, "a=ice-pwd:"):
		return "a=ice-pwd:" + n.sym(&n.pwd, l[len("a=ice-pwd:"):])
	case strings.HasPrefix(l, "a=tls-id:"):
		return "a=tls-id:" + n.sym(&n.tlsid, l[len("a=tls-id:"):])
	case strings.HasPrefix(l, "a=rtpengine:"):
		return "a=rtpengine:" + n.looper.get(l[len("a=rtpengine:"):])
	case strings.HasPrefix(l, "a=fingerprint:"):
		f := strings.Fields(l)
		if len(f) == 2 {
			return f[0] + " " + n.sym(&n.fpr, f[1])
		}
	case strings.HasPrefix(l, "a=crypto:"):
		// a=crypto:<tag> <suite> inline:<key>[|lifetime][|mki] [params]
		f := strings.Fields(l)
		if len(f) >= 3 && strings.HasPrefix(f[2], "inline:") {
			k := strings.TrimPrefix(f[2], "inline:")
			rest := ""
			if i := strings.IndexByte(k, '|'); i >= 0 {
				k, rest = k[:i], k[i:]
			}
			if n.input[k] {
				f[2] = "inline:" + k + rest
			} else {
				f[2] = "inline:" + n.key.get(k) + fmt.Sprintf("(len %d)", len(k)) + rest
			}
			return strings.Join(f, " ")
		}
	case strings.HasPrefix(l, "a=candidate:"):
		// a=candidate:<foundation> <comp> <transport> <prio> <addr> <port> typ <type> [raddr <a> rport <p>] ...
		f := strings.Fields(l)
		if len(f) >= 6 {
			f[0] = "a=candidate:" + n.found.get(strings.TrimPrefix(f[0], "a=candidate:"))
			f[5] = n.candPort(family(f[4]), f[5])
			rfam := fam
			for i := 6; i+1 < len(f); i++ {
				switch f[i] {
				case "raddr":
					rfam = family(f[i+1])
				case "rport":
					f[i+1] = n.candPort(rfam, f[i+1])
				}
			}
			return strings.Join(f, " ")
		}
	case strings.HasPrefix(l, "a=rtcp:"):
		// a=rtcp:<port> [IN <family> <address>]
		if f := strings.Fields(l); len(f) >= 4 {
			fam = f[2]
		}
	}
	return n.portsIn(fam, l)
}

// timeKeys hold wall-clock values in query/delete statistics.
var timeKeys = map[string]bool{
	"created": true, "created_us": true, "created_ts": true,
	"last signal": true, "last_signal": true, "last redis update": true,
	"last packet": true, "last kernel packet": true, "last user packet": true,
}

// Options select how a reply is normalised.
type Options struct {
	// ShapeOnly replaces every scalar by its type: for replies whose values
	// depend on everything the daemon did before (statistics).
	ShapeOnly bool
}

// Reply normalises a decoded reply dictionary (values string, int64, []any
// or map[string]any; nested maps of another named type are handled by
// Plain first). The result is plain data suitable for Diff and JSON.
func (n *Normalizer) Reply(d map[string]any, o Options) map[string]any {
	v := n.value("", "", Plain(d), o)
	m, _ := v.(map[string]any)
	return m
}

// value normalises v, found under key; fam is the address family of the
// nearest enclosing dictionary that has a "family" ("IPv4", "IPv6"), the
// family of its "port" and "local port" values.
func (n *Normalizer) value(key, fam string, v any, o Options) any {
	if o.ShapeOnly {
		return shape(v)
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		if f, ok := x["family"].(string); ok {
			fam = strings.Replace(f, "IPv", "IP", 1) // statistics say IPv4, SDP IP4
		}
		// Visit keys sorted so that symbol numbering does not depend on map
		// iteration order.
		for _, k := range sortedKeys(x) {
			out[k] = n.value(k, fam, x[k], o)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.value(key, fam, e, o)
		}
		if key == "calls" {
			// "list" returns calls in hash order.
			sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		}
		return out
	case string:
		switch {
		case key == "sdp":
			ls := n.SDP(x)
			out := make([]any, len(ls))
			for i, l := range ls {
				out[i] = l
			}
			return out
		case timeKeys[key]:
			return "<time string>"
		case strings.Contains(key, "port"):
			return n.port(fam, x)
		}
		return x
	case int64:
		switch {
		case timeKeys[key]:
			return "<time int>"
		case strings.Contains(key, "port"):
			if s := n.port(fam, strconv.FormatInt(x, 10)); strings.HasPrefix(s, "PORT") {
				return s + " (int)"
			}
		}
		return x
	}
	return v
}

func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		return []any{shape(x[0])}
	case string:
		return "<string>"
	case int64:
		return "<int>"
	}
	return fmt.Sprintf("<%T>", v)
}

// Plain converts nested map types (such as ngproto.Dict) to map[string]any
// and every integer kind to int64.
func Plain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case int:
		return int64(x)
	case float64: // from JSON goldens
		return int64(x)
	case string, int64, nil:
		return x
	}
	// Named map types (ngproto.Dict) without importing them.
	if m, ok := asMap(v); ok {
		return Plain(m)
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
