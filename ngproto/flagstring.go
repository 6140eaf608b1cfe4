package ngproto

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Dialect selects whose flag-string rules ParseFlagString follows.
type Dialect uint8

const (
	// OpenSIPS: modules/rtpengine/rtpengine.c parse_flags.
	OpenSIPS Dialect = iota
	// Kamailio: src/modules/rtpengine/rtpengine.c parse_flags.
	Kamailio
	// Daemon: rtpengine's own parser for the "rtpp-flags" key
	// (daemon/control_ng_flags_parser.c). ParseRequest uses it.
	Daemon
)

func (d Dialect) String() string {
	switch d {
	case OpenSIPS:
		return "opensips"
	case Kamailio:
		return "kamailio"
	case Daemon:
		return "daemon"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// ModuleFlags is a parsed flag string: the NG keys the module would send,
// plus the parts a module resolves against the SIP message (which tag,
// which Via branch) for the caller to apply.
type ModuleFlags struct {
	// Dict holds the NG keys. Explicit call-id=, from-tag=, to-tag=X and
	// received-from= values are included; message-derived values are not.
	Dict Dict
	// CallID, FromTag, ToTag are explicit overrides from the string.
	CallID, FromTag, ToTag string
	// ToTagFlag: "to-tag" was given (send the To tag even for delete).
	ToTagFlag bool
	// Directional: from-tag= or directional was given.
	Directional bool
	// ViaBranch is the via-branch selector ("1", "2", "auto", "extra",
	// Kamailio also "next", "auto-next", "auto-extra"), for the caller to
	// resolve against the message. Empty if not given.
	ViaBranch string
	// ForceAnswer: turn an offer into an answer.
	ForceAnswer bool
}

// Limits for hostile flag strings (OpenSIPS rtpengine_bracket.h uses the
// same bracket limits).
const (
	maxFlagString   = 65535
	maxBracketDepth = 8
	maxBracketLen   = 4096
)

// ParseFlagString turns the flag string that OpenSIPS/Kamailio rtpengine
// modules take ("RTP/AVP replace-session-connection replace-origin
// ICE=remove") into the NG keys those modules send.
func ParseFlagString(s string, dialect Dialect) (Dict, error) {
	mf, err := ParseModuleFlags(s, dialect)
	if err != nil {
		return nil, err
	}
	return mf.Dict, nil
}

type flagParser struct {
	dialect   Dialect
	out       *ModuleFlags
	transport int
	flags     []any
	replace   []any
	rtcpMux   []any
	sdes      []any
	t38       []any
	direction []any
	fromTags  []any
	codec     Dict
	inIface   string
	outIface  string
	hasIn     bool
	hasOut    bool
	ifaces    int // Daemon: direction flags seen
	rcvdFrom  string
	hasRcvd   bool
}

// ParseModuleFlags is ParseFlagString with the message-dependent parts
// reported separately.
func ParseModuleFlags(s string, dialect Dialect) (*ModuleFlags, error) {
	if len(s) > maxFlagString {
		return nil, errors.New("flag string too long")
	}
	if dialect > Daemon {
		return nil, fmt.Errorf("unknown dialect %d", dialect)
	}
	p := &flagParser{dialect: dialect, out: &ModuleFlags{Dict: Dict{}}}
	rest := s
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		key, val, hasVal, next, err := p.token(rest)
		if err != nil {
			return nil, err
		}
		rest = next
		if key == "" {
			// "=value" with an empty key ends OpenSIPS/Kamailio parsing
			break
		}
		if err := p.handle(key, val, hasVal); err != nil {
			return nil, fmt.Errorf("flag %q: %w", key, err)
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.out, nil
}

// token splits one "key[=value]" off s. OpenSIPS and the daemon take a
// value starting with '[' up to its matching ']', spaces included.
func (p *flagParser) token(s string) (key, val string, hasVal bool, rest string, err error) {
	i := strings.IndexAny(s, " =")
	if i < 0 {
		return s, "", false, "", nil
	}
	if s[i] == ' ' {
		return s[:i], "", false, s[i:], nil
	}
	key = s[:i]
	v := s[i+1:]
	if p.dialect != Kamailio && strings.HasPrefix(v, "[") {
		depth := 0
		for j := 0; j < len(v); j++ {
			switch v[j] {
			case '[':
				depth++
			case ']':
				depth--
				if depth == 0 {
					return key, v[:j+1], true, v[j+1:], nil
				}
			}
		}
		return "", "", false, "", fmt.Errorf("flag %q: unmatched bracket in flag value", key)
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return key, v[:j], true, v[j:], nil
	}
	return key, v, true, "", nil
}

var errMissingValue = errors.New("missing value")

func (p *flagParser) handle(key, val string, hasVal bool) error {
	if p.transportWord(key, hasVal) {
		return nil
	}
	switch p.dialect {
	case OpenSIPS:
		return p.handleOpenSIPS(key, val, hasVal)
	case Kamailio:
		return p.handleKamailio(key, val, hasVal)
	default:
		return p.handleDaemon(key, val, hasVal)
	}
}

func (p *flagParser) transportWord(key string, hasVal bool) bool {
	if hasVal && p.dialect != OpenSIPS {
		return false
	}
	switch key {
	case "RTP":
		p.transport = (p.transport | 0x100) &^ 0x001
	case "AVP":
		p.transport = (p.transport | 0x100) &^ 0x002
	case "SRTP":
		p.transport |= 0x101
	case "AVPF":
		p.transport |= 0x102
	case "DTLS":
		if p.dialect == OpenSIPS {
			return false
		}
		p.transport |= 0x104
	case "RTP/AVP":
		p.transport = 0x100
	case "RTP/SAVP":
		p.transport = 0x101
	case "RTP/AVPF":
		p.transport = 0x102
	case "RTP/SAVPF":
		p.transport = 0x103
	case "UDP/TLS/RTP/SAVP":
		p.transport = 0x104
	case "UDP/TLS/RTP/SAVPF":
		if p.dialect == OpenSIPS {
			p.transport = 0x105
		} else {
			p.transport = 0x106
		}
	default:
		return false
	}
	return true
}

func (p *flagParser) generic(key, val string, hasVal bool) error {
	if !hasVal || (val == "" && p.dialect == Daemon) {
		p.flags = append(p.flags, key)
		return nil
	}
	if p.dialect != Kamailio && len(val) >= 2 && val[0] == '[' && val[len(val)-1] == ']' {
		v, err := parseBracket(val[1:len(val)-1], 0)
		if err != nil {
			return err
		}
		p.out.Dict[key] = v
		return nil
	}
	p.out.Dict[key] = val
	return nil
}

func (p *flagParser) handleOpenSIPS(key, val string, hasVal bool) error {
	switch key {
	case "to-tag":
		if hasVal {
			p.out.ToTag = val
		}
		p.out.ToTagFlag = true
	case "callid":
		if !hasVal {
			return p.generic(key, val, hasVal)
		}
		p.out.CallID = val
	case "call-id":
		if !hasVal {
			return errMissingValue
		}
		p.out.CallID = val
	case "internal", "external":
		if p.hasIn {
			p.outIface, p.hasOut = key, true
		} else {
			p.inIface, p.hasIn = key, true
		}
	case "in-iface":
		if !hasVal {
			return errMissingValue
		}
		p.inIface, p.hasIn = val, true
	case "out-iface":
		if !hasVal {
			return errMissingValue
		}
		p.outIface, p.hasOut = val, true
	case "from-tag":
		if !hasVal {
			return errMissingValue
		}
		p.out.FromTag = val
		p.out.Directional = true
	case "via-branch":
		if !hasVal {
			return errMissingValue
		}
		return p.viaBranch(val)
	case "via-branch-param":
		p.out.Dict["via-branch"] = val
	case "repacketize":
		return p.repacketize(val, hasVal)
	case "directional":
		p.out.Directional = true
		p.flags = append(p.flags, key)
	case "force-answer":
		p.out.ForceAnswer = true
	case "delete-delay":
		if !hasVal {
			return errMissingValue
		}
		p.out.Dict["delete-delay"] = atoi(val)
	case "media-address":
		if !hasVal {
			return errMissingValue
		}
		return p.generic(key, val, hasVal)
	case "received-from":
		if hasVal {
			p.rcvdFrom, p.hasRcvd = val, true
		}
	case "address-family":
		if !hasVal {
			return errMissingValue
		}
		if val != "IP4" && val != "IP6" {
			return errors.New("invalid value")
		}
		p.out.Dict["address family"] = val
	case "replace-origin":
		p.replace = append(p.replace, "origin")
	case "replace-username":
		p.replace = append(p.replace, "username")
	case "replace-SDP-version":
		p.replace = append(p.replace, "SDP version")
	case "replace-zero-address":
		p.replace = append(p.replace, "zero address")
	case "replace-session-name":
		p.replace = append(p.replace, "session name")
	case "replace-session-connection":
		p.replace = append(p.replace, "session-connection")
	case "rtcp-mux-demux", "rtcp-mux-offer", "rtcp-mux-reject", "rtcp-mux-accept", "rtcp-mux-require":
		p.rtcpMux = append(p.rtcpMux, key[len("rtcp-mux-"):])
	default:
		return p.generic(key, val, hasVal)
	}
	return nil
}

// keyValPrefix is the modules' str_key_val_prefix: "name=value" or
// "name-value".
func keyValPrefix(key, val string, hasVal bool, name string) (string, bool) {
	if key == name {
		if !hasVal || val == "" {
			return "", false
		}
		return val, true
	}
	if len(key) >= len(name)+2 && strings.HasPrefix(key, name) && key[len(name)] == '-' {
		return key[len(name)+1:], true
	}
	return "", false
}

var kamailioCodecFlags = []struct{ name, dict string }{
	{"transcode", "transcode"}, {"codec-transcode", "transcode"},
	{"codec-strip", "strip"}, {"codec-offer", "offer"}, {"codec-mask", "mask"},
	{"codec-set", "set"}, {"codec-except", "except"}, {"codec-accept", "accept"},
	{"codec-consume", "consume"},
}

func (p *flagParser) codecFlag(key, val string, hasVal bool) bool {
	for _, c := range kamailioCodecFlags {
		if c.name == "codec-consume" && p.dialect == Daemon {
			continue
		}
		if s, ok := keyValPrefix(key, val, hasVal, c.name); ok {
			if p.codec == nil {
				p.codec = Dict{}
			}
			l, _ := p.codec[c.dict].([]any)
			p.codec[c.dict] = append(l, s)
			return true
		}
	}
	return false
}

func (p *flagParser) handleKamailio(key, val string, hasVal bool) error {
	if s, ok := keyValPrefix(key, val, hasVal, "replace"); ok {
		p.replace = append(p.replace, s)
		return nil
	}
	if s, ok := keyValPrefix(key, val, hasVal, "received-from"); ok {
		// Kamailio silently skips a value that is not an IP address
		if _, _, ok := ipFamily(s); ok {
			p.rcvdFrom, p.hasRcvd = s, true
		}
		return nil
	}
	if s, ok := keyValPrefix(key, val, hasVal, "SDES"); ok {
		p.sdes = append(p.sdes, s)
		return nil
	}
	if s, ok := keyValPrefix(key, val, hasVal, "T38"); ok {
		p.t38 = append(p.t38, s)
		return nil
	}
	if s, ok := keyValPrefix(key, val, hasVal, "T.38"); ok {
		p.t38 = append(p.t38, s)
		return nil
	}
	if s, ok := keyValPrefix(key, val, hasVal, "rtcp-mux"); ok {
		p.rtcpMux = append(p.rtcpMux, s)
		return nil
	}
	if p.codecFlag(key, val, hasVal) {
		return nil
	}
	switch key {
	case "TOS":
		if !hasVal {
			break
		}
		p.out.Dict["TOS"] = atoi(val)
		return nil
	case "to-tag":
		if hasVal {
			p.out.ToTag = val
		}
		p.out.ToTagFlag = true
		return nil
	case "call-id":
		if !hasVal {
			return errMissingValue
		}
		p.out.CallID = val
		return nil
	case "internal", "external":
		p.direction = append(p.direction, key)
		return nil
	case "from-tag":
		if !hasVal {
			return errMissingValue
		}
		p.out.FromTag = val
		p.out.Directional = true
		return nil
	case "direction":
		if !hasVal {
			return errMissingValue
		}
		p.direction = append(p.direction, val)
		return nil
	case "from-tags":
		if !hasVal {
			return errMissingValue
		}
		p.fromTags = append(p.fromTags, val)
		return nil
	case "via-branch":
		if !hasVal {
			return errMissingValue
		}
		return p.viaBranch(val)
	case "repacketize":
		return p.repacketize(val, hasVal)
	case "directional":
		p.out.Directional = true
		return nil
	case "force-answer":
		p.out.ForceAnswer = true
		return nil
	case "delete-delay":
		if hasVal {
			// the module adds the integer and then, falling out of its
			// switch, the generic string too: both keys are sent
			p.out.Dict["delete delay"] = atoi(val)
		}
	}
	return p.generic(key, val, hasVal)
}

func (p *flagParser) handleDaemon(key, val string, hasVal bool) error {
	if p.codecFlag(key, val, hasVal) {
		return nil
	}
	switch key {
	case "to-tag", "to_tag", "to tag":
		if hasVal {
			p.out.ToTag = val
			p.out.ToTagFlag = true
			p.out.Dict["to-tag"] = val
			p.flags = append(p.flags, "to-tag")
			return nil
		}
	case "from-tag":
		if hasVal {
			p.out.FromTag = val
			p.out.Directional = true
			p.flags = append(p.flags, "directional")
		}
	case "internal", "external":
		p.daemonDirection(key)
		return nil
	case "direction":
		if hasVal && !strings.HasPrefix(val, "[") {
			p.daemonDirection(val)
			return nil
		}
	}
	return p.generic(key, val, hasVal)
}

func (p *flagParser) daemonDirection(v string) {
	keys := [2]string{"from-interface", "to-interface"}
	if p.ifaces >= len(keys) {
		return // rtpengine warns "Too many 'direction=...' flags"
	}
	p.out.Dict[keys[p.ifaces]] = v
	p.ifaces++
}

func (p *flagParser) viaBranch(val string) error {
	switch {
	case val != "" && (val[0] == '1' || val[0] == '2'):
		p.out.ViaBranch = val[:1]
	case val == "auto" || val == "extra":
		p.out.ViaBranch = val
	case p.dialect == Kamailio && val == "next":
		p.out.ViaBranch = val
	case p.dialect == Kamailio && (val == "auto-next" || val == "next-auto"):
		p.out.ViaBranch = "auto-next"
	case p.dialect == Kamailio && (val == "auto-extra" || val == "extra-auto"):
		p.out.ViaBranch = "auto-extra"
	default:
		return errors.New("invalid value")
	}
	return nil
}

func (p *flagParser) repacketize(val string, hasVal bool) error {
	if !hasVal {
		return errMissingValue
	}
	n := 0
	for i := 0; i < len(val) && val[i] >= '0' && val[i] <= '9' && n < 1<<30; i++ {
		n = n*10 + int(val[i]-'0')
	}
	if n == 0 {
		return errors.New("invalid value")
	}
	p.out.Dict["repacketize"] = int64(n)
	return nil
}

func (p *flagParser) finish() error {
	d := p.out.Dict
	if p.dialect == OpenSIPS {
		switch {
		case p.hasIn && p.hasOut:
			p.direction = append(p.direction, p.inIface, p.outIface)
		case p.hasIn:
			return errors.New("in-iface value without out-iface")
		case p.hasOut:
			return errors.New("out-iface value without in-iface")
		}
	}
	if len(p.flags) > 0 {
		d["flags"] = p.flags
	}
	if len(p.direction) > 0 {
		d["direction"] = p.direction
	}
	if len(p.replace) > 0 {
		d["replace"] = p.replace
	}
	if len(p.rtcpMux) > 0 {
		d["rtcp-mux"] = p.rtcpMux
	}
	if len(p.sdes) > 0 {
		d["SDES"] = p.sdes
	}
	if len(p.t38) > 0 {
		d["T.38"] = p.t38
	}
	if len(p.fromTags) > 0 {
		d["from-tags"] = p.fromTags
	}
	if len(p.codec) > 0 {
		d["codec"] = p.codec
	}
	if p.transport&0x100 != 0 {
		if tp := transportName(p.dialect, p.transport&0x7); tp != "" {
			d["transport-protocol"] = tp
		}
	}
	if p.hasRcvd {
		fam, addr, ok := ipFamily(p.rcvdFrom)
		if !ok {
			return errors.New("received-from value is not an IP")
		}
		d["received-from"] = []any{fam, addr}
	}
	if p.out.CallID != "" {
		d["call-id"] = p.out.CallID
	}
	if p.out.FromTag != "" {
		d["from-tag"] = p.out.FromTag
	}
	if p.out.ToTag != "" {
		d["to-tag"] = p.out.ToTag
	}
	return nil
}

// transportName follows the modules' tables: OpenSIPS puts
// UDP/TLS/RTP/SAVPF at 5, Kamailio and the daemon at 6 (DTLS is bit 4).
func transportName(d Dialect, idx int) string {
	switch idx {
	case 0:
		return "RTP/AVP"
	case 1:
		return "RTP/SAVP"
	case 2:
		return "RTP/AVPF"
	case 3:
		return "RTP/SAVPF"
	case 4:
		return "UDP/TLS/RTP/SAVP"
	case 5:
		if d == OpenSIPS {
			return "UDP/TLS/RTP/SAVPF"
		}
	case 6:
		if d != OpenSIPS {
			return "UDP/TLS/RTP/SAVPF"
		}
	}
	return ""
}

func ipFamily(s string) (fam, addr string, ok bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", "", false
	}
	if a.Is4() || a.Is4In6() {
		return "IP4", a.Unmap().String(), true
	}
	return "IP6", a.String(), true
}

// atoi is C's atoi: leading blanks, optional sign, digits; 0 otherwise.
func atoi(s string) int64 {
	s = strings.TrimLeft(s, " \t")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > (1<<62)/10 {
			break
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// parseBracket parses the inside of an OpenSIPS "[...]" value: a
// dictionary if '=' appears at depth 0, a list otherwise. "--" unescapes to
// '=' and ".." to ' ' (as rtpengine's str_dup_escape).
func parseBracket(s string, depth int) (any, error) {
	if depth > maxBracketDepth || len(s) > maxBracketLen {
		return nil, errors.New("bracket value too deep or too long")
	}
	isDict := false
	d := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			d++
		case ']':
			d--
			if d < 0 {
				return nil, errors.New("stray ']' in bracket value")
			}
		case '=':
			if d == 0 {
				isDict = true
			}
		}
		if isDict {
			break
		}
	}
	var list []any
	dict := Dict{}
	i := 0
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		var key string
		if isDict {
			ks := i
			for i < len(s) && s[i] != '=' && s[i] != ' ' {
				i++
			}
			if i == ks || i >= len(s) || s[i] != '=' {
				for i < len(s) && s[i] != ' ' {
					i++
				}
				continue // bare token in a dictionary: skipped
			}
			key = s[ks:i]
			i++
		}
		var item any
		if i < len(s) && s[i] == '[' {
			vs := i + 1
			d := 0
			end := -1
			for ; i < len(s); i++ {
				if s[i] == '[' {
					d++
				} else if s[i] == ']' {
					d--
					if d == 0 {
						end = i
						i++
						break
					}
				}
			}
			if end < 0 {
				return nil, errors.New("unmatched '[' in bracket value")
			}
			v, err := parseBracket(s[vs:end], depth+1)
			if err != nil {
				return nil, err
			}
			item = v
		} else {
			vs := i
			for i < len(s) && s[i] != ' ' {
				i++
			}
			if isDict && i == vs {
				continue
			}
			item = bracketUnescape(s[vs:i])
		}
		if isDict {
			dict[key] = item
		} else {
			list = append(list, item)
		}
	}
	if isDict {
		return dict, nil
	}
	if list == nil {
		list = []any{}
	}
	return list, nil
}

func bracketUnescape(s string) string {
	if !strings.Contains(s, "--") && !strings.Contains(s, "..") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i+1 < len(s) && s[i] == '-' && s[i+1] == '-' {
			b.WriteByte('=')
			i++
		} else if i+1 < len(s) && s[i] == '.' && s[i+1] == '.' {
			b.WriteByte(' ')
			i++
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
