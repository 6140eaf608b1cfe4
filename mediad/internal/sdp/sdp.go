// Package sdp owns mediad's Session Description Protocol handling: a
// lenient parser for what phones and browsers really send (CRLF or LF,
// unknown lines and attributes kept in their original order) and a
// writer. It knows nothing about calls or ports; package call decides
// what the outgoing SDP contains.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Errors returned by Parse. Both wrap ErrParse so callers can map every
// parse failure to one NG error reason.
var (
	ErrParse = errors.New("sdp: parse error")
)

// Line is one "<type>=<value>" line exactly as received (without the line
// ending).
type Line struct {
	Type  byte
	Value string
}

// String renders the line as "x=value".
func (l Line) String() string { return string(l.Type) + "=" + l.Value }

// Attr splits an a= line into its name and value ("rtpmap", "0 PCMU/8000").
// HasValue is false for property attributes such as "a=sendrecv".
type Attr struct {
	Name     string
	Value    string
	HasValue bool
}

// ParseAttr splits the value of an a= line.
func ParseAttr(v string) Attr {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return Attr{Name: v[:i], Value: v[i+1:], HasValue: true}
	}
	return Attr{Name: v}
}

// String renders the attribute value (without "a=").
func (a Attr) String() string {
	if a.HasValue {
		return a.Name + ":" + a.Value
	}
	return a.Name
}

// Origin is the parsed o= line.
type Origin struct {
	Username       string
	SessionID      string
	SessionVersion string
	NetType        string
	AddrType       string
	Address        string
}

// String renders the o= value.
func (o Origin) String() string {
	return o.Username + " " + o.SessionID + " " + o.SessionVersion + " " + o.NetType + " " + o.AddrType + " " + o.Address
}

// Connection is a parsed c= line. Addr is invalid when the address is a
// host name; Raw keeps the text in that case.
type Connection struct {
	NetType  string
	AddrType string // "IP4" or "IP6"
	Addr     netip.Addr
	Raw      string // address text as given (may carry "/ttl")
}

// String renders the c= value.
func (c Connection) String() string {
	a := c.Raw
	if c.Addr.IsValid() {
		a = c.Addr.String()
	}
	return c.NetType + " " + c.AddrType + " " + a
}

// IsZero reports a hold address (0.0.0.0 or ::).
func (c Connection) IsZero() bool { return c.Addr.IsValid() && c.Addr.IsUnspecified() }

// Session is a parsed SDP. Lines holds every session-level line after
// o= and s= in their original order (i, u, e, p, c, b, t, r, z, k, a and
// any unknown type); Media holds the m= sections.
type Session struct {
	Version    string // v= value, normally "0"
	Origin     Origin
	HasOrigin  bool   // o= is optional in practice (rtpengine accepts SDP without it)
	Name       string // s= value
	HasName    bool
	Lines      []Line
	Connection *Connection // first session-level c=, if any
	Media      []*Media
}

// Media is one m= section.
type Media struct {
	Type       string // audio, video, application, ...
	Port       int
	NumPorts   int // from "port/n"; 0 when absent
	Proto      string
	Formats    []string
	Lines      []Line      // every line after m= in order
	Connection *Connection // first media-level c=, if any
}

// Attrs returns the a= lines of a slice of lines in order.
func Attrs(lines []Line) []Attr {
	n := 0
	for _, l := range lines {
		if l.Type == 'a' {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Attr, 0, n)
	for _, l := range lines {
		if l.Type == 'a' {
			out = append(out, ParseAttr(l.Value))
		}
	}
	return out
}

// Attr returns the first attribute with the given name (case-insensitive).
func (m *Media) Attr(name string) (Attr, bool) { return findAttr(m.Lines, name) }

// Attr returns the first session-level attribute with the given name.
func (s *Session) Attr(name string) (Attr, bool) { return findAttr(s.Lines, name) }

// AttrValues returns the values of all attributes named name, in order.
func (m *Media) AttrValues(name string) []string { return attrValues(m.Lines, name) }

// AttrValues returns the values of all session attributes named name.
func (s *Session) AttrValues(name string) []string { return attrValues(s.Lines, name) }

func findAttr(lines []Line, name string) (Attr, bool) {
	for _, l := range lines {
		if l.Type != 'a' {
			continue
		}
		a := ParseAttr(l.Value)
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return Attr{}, false
}

func attrValues(lines []Line, name string) []string {
	var out []string
	for _, l := range lines {
		if l.Type != 'a' {
			continue
		}
		a := ParseAttr(l.Value)
		if strings.EqualFold(a.Name, name) {
			out = append(out, a.Value)
		}
	}
	return out
}

// maxLines bounds the work done on hostile input; real SDPs have a few
// hundred lines at most.
const maxLines = 10000

// Parse parses an SDP body as rtpengine 10.5 does without
// --reject-invalid-sdp (ParseOpts).
func Parse(text string) (*Session, error) { return ParseOpts(text, Options{}) }

// Options change how Parse reads a body.
type Options struct {
	// Strict is rtpengine's --reject-invalid-sdp: an empty line is an
	// error rather than the end of the body.
	Strict bool
}

// ParseOpts parses an SDP body. It accepts CRLF or LF line endings (lone
// CR ones in a body without LF), ignores trailing whitespace and keeps
// unknown lines. As rtpengine 10.5's parser, it ends the body at the
// first empty line (unless o.Strict, where that is an error) and ignores
// a last line of a single character. It rejects text that is not SDP
// (no leading v=, lines without "x=", whitespace-only lines, unparsable
// o=, m= or c= lines) and, as rtpengine does, a second o= or a second c=
// at the same level (RFC 8866 allows several c= lines only for layered
// multicast, which rtpengine refuses as well).
func ParseOpts(text string, o Options) (*Session, error) {
	s := &Session{}
	var cur *Media
	n := 0
	sawV := false
	sep := "\n"
	if !strings.Contains(text, "\n") {
		sep = "\r"
	}
	for len(text) > 1 {
		var raw string
		if i := strings.Index(text, sep); i >= 0 {
			raw, text = strings.TrimSuffix(text[:i], "\r"), text[i+1:]
		} else {
			raw, text = text, ""
		}
		if raw == "" {
			if o.Strict {
				return nil, fmt.Errorf("%w: line %d is empty", ErrParse, n+1)
			}
			break
		}
		raw = strings.TrimRight(raw, " \t")
		n++
		if n > maxLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrParse, maxLines)
		}
		if len(raw) < 2 || raw[1] != '=' || !knownType(raw[0]) {
			return nil, fmt.Errorf("%w: line %d is not \"x=value\": %.40q", ErrParse, n, raw)
		}
		typ, val := raw[0], raw[2:]
		if !sawV {
			if typ != 'v' {
				return nil, fmt.Errorf("%w: first line is not v=", ErrParse)
			}
			s.Version = val
			sawV = true
			continue
		}
		switch {
		case typ == 'm':
			m, err := parseMediaLine(val)
			if err != nil {
				return nil, err
			}
			s.Media = append(s.Media, m)
			cur = m
		case cur != nil:
			if typ == 'c' {
				if cur.Connection != nil {
					return nil, fmt.Errorf("%w: second c= in media section %d", ErrParse, len(s.Media))
				}
				c, err := ParseConnection(val)
				if err != nil {
					return nil, err
				}
				cur.Connection = c
			}
			cur.Lines = append(cur.Lines, Line{Type: typ, Value: val})
		case typ == 'o':
			if s.HasOrigin {
				return nil, fmt.Errorf("%w: second o=", ErrParse)
			}
			o, err := ParseOrigin(val)
			if err != nil {
				return nil, err
			}
			s.Origin = o
			s.HasOrigin = true
		case typ == 's' && !s.HasName:
			s.Name = val
			s.HasName = true
		default:
			if typ == 'c' {
				if s.Connection != nil {
					return nil, fmt.Errorf("%w: second session-level c=", ErrParse)
				}
				c, err := ParseConnection(val)
				if err != nil {
					return nil, err
				}
				s.Connection = c
			}
			s.Lines = append(s.Lines, Line{Type: typ, Value: val})
		}
	}
	if !sawV {
		return nil, fmt.Errorf("%w: empty", ErrParse)
	}
	return s, nil
}

// knownType reports the line types of RFC 4566 (rtpengine rejects any
// other type as unparsable, and so do we).
func knownType(b byte) bool { return strings.IndexByte("vosiuepcbtrzkam", b) >= 0 }

// ParseOrigin parses an o= value: six space-separated fields.
func ParseOrigin(v string) (Origin, error) {
	f := strings.Fields(v)
	if len(f) != 6 {
		return Origin{}, fmt.Errorf("%w: o= needs 6 fields: %.60q", ErrParse, v)
	}
	return Origin{Username: f[0], SessionID: f[1], SessionVersion: f[2], NetType: f[3], AddrType: f[4], Address: f[5]}, nil
}

// ParseConnection parses a c= value "IN IP4 addr[/ttl[/n]]".
func ParseConnection(v string) (*Connection, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return nil, fmt.Errorf("%w: c= needs 3 fields: %.60q", ErrParse, v)
	}
	c := &Connection{NetType: f[0], AddrType: f[1], Raw: f[2]}
	host := f[2]
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	switch strings.ToUpper(c.AddrType) {
	case "IP4", "IP6":
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("%w: c= address %.60q", ErrParse, host)
		}
		if (c.AddrType == "IP4") != a.Is4() {
			// "IN IP4 ::1" and friends: trust the address, not the label.
			if a.Is4() {
				c.AddrType = "IP4"
			} else {
				c.AddrType = "IP6"
			}
		}
		c.Addr = a
	default:
		return nil, fmt.Errorf("%w: c= address type %.20q", ErrParse, c.AddrType)
	}
	return c, nil
}

func parseMediaLine(v string) (*Media, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return nil, fmt.Errorf("%w: m= needs at least 3 fields: %.60q", ErrParse, v)
	}
	m := &Media{Type: f[0], Proto: f[2], Formats: append([]string(nil), f[3:]...)}
	port := f[1]
	if i := strings.IndexByte(port, '/'); i >= 0 {
		n, err := strconv.Atoi(port[i+1:])
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%w: m= port count %.20q", ErrParse, port)
		}
		m.NumPorts = n
		port = port[:i]
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("%w: m= port %.20q", ErrParse, port)
	}
	m.Port = p
	return m, nil
}
