// Package phone is a small SIP phone for the end-to-end tests: a user
// agent over UDP, TCP or TLS (REGISTER, INVITE with or without SDP,
// answering, ACK, BYE, re-INVITE and UPDATE along the Record-Route set,
// reliable provisionals and PRACK, blind transfer by REFER and its
// NOTIFYs) with a plain RTP endpoint that sends PCMU packets and counts
// what it receives, per SSRC. It speaks just enough SIP for a proxy in
// front of it; it is not a general SIP stack.
package phone

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Msg is a parsed SIP message: start line, headers in order, body.
type Msg struct {
	Method string // requests
	URI    string // requests
	Code   int    // responses
	Reason string
	Hdrs   []Hdr
	Body   []byte
	From   netip.AddrPort // packet source
}

// Hdr is one header line (compact names expanded).
type Hdr struct{ Name, Value string }

var compact = map[string]string{"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact",
	"l": "Content-Length", "c": "Content-Type", "k": "Supported", "r": "Refer-To", "o": "Event"}

// Parse parses one datagram.
func Parse(b []byte) (*Msg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("phone: no header end")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &Msg{Body: body}
	first := strings.SplitN(lines[0], " ", 3)
	if len(first) < 3 {
		return nil, fmt.Errorf("phone: bad start line %q", lines[0])
	}
	if strings.HasPrefix(first[0], "SIP/") {
		c, err := strconv.Atoi(first[1])
		if err != nil {
			return nil, fmt.Errorf("phone: bad status %q", lines[0])
		}
		m.Code, m.Reason = c, first[2]
	} else {
		m.Method, m.URI = first[0], first[1]
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.Hdrs) > 0 {
			m.Hdrs[len(m.Hdrs)-1].Value += " " + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("phone: bad header %q", l)
		}
		k = strings.TrimSpace(k)
		if full, ok := compact[strings.ToLower(k)]; ok {
			k = full
		}
		m.Hdrs = append(m.Hdrs, Hdr{k, strings.TrimSpace(v)})
	}
	if cl := m.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err == nil && n <= len(m.Body) {
			m.Body = m.Body[:n]
		}
	}
	return m, nil
}

// readStreamMsg reads one message off a stream: the header up to its empty
// line (CRLFs before it are keepalives), then Content-Length bytes of body.
func readStreamMsg(br *bufio.Reader) ([]byte, error) {
	var head []byte
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if len(head) == 0 {
				continue // keepalive
			}
			head = append(head, line...)
			break
		}
		head = append(head, line...)
		k, v, ok := bytes.Cut(line, []byte(":"))
		if name := strings.ToLower(string(bytes.TrimSpace(k))); ok && (name == "content-length" || name == "l") {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil || n < 0 || n > 1<<16 {
				return nil, fmt.Errorf("phone: bad Content-Length %q", bytes.TrimSpace(v))
			}
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// Get returns the first value of header name.
func (m *Msg) Get(name string) string {
	for _, h := range m.Hdrs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// All returns every value of header name, comma-separated values split
// (for Via, Record-Route, Route).
func (m *Msg) All(name string) []string {
	var out []string
	for _, h := range m.Hdrs {
		if strings.EqualFold(h.Name, name) {
			out = append(out, splitComma(h.Value)...)
		}
	}
	return out
}

// splitComma splits a header value on commas outside <> and quotes.
func splitComma(v string) []string {
	var out []string
	depth, quote, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quote = !quote
		case '<':
			if !quote {
				depth++
			}
		case '>':
			if !quote {
				depth--
			}
		case ',':
			if !quote && depth == 0 {
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// Bytes renders the message with a correct Content-Length.
func (m *Msg) Bytes() []byte {
	var b bytes.Buffer
	if m.Method != "" {
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", m.Method, m.URI)
	} else {
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", m.Code, m.Reason)
	}
	for _, h := range m.Hdrs {
		if strings.EqualFold(h.Name, "Content-Length") {
			continue
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(m.Body))
	b.Write(m.Body)
	return b.Bytes()
}

// Tag returns the tag parameter of a From/To value.
func Tag(v string) string {
	i := strings.Index(v, ";tag=")
	if i < 0 {
		return ""
	}
	t := v[i+5:]
	if j := strings.IndexAny(t, ";, >"); j >= 0 {
		t = t[:j]
	}
	return t
}

// CSeq returns the number and method of the CSeq header.
func (m *Msg) CSeq() (int, string) {
	n, meth, _ := strings.Cut(m.Get("CSeq"), " ")
	i, _ := strconv.Atoi(strings.TrimSpace(n))
	return i, strings.TrimSpace(meth)
}

// uriOf returns the URI inside <> (or the value up to ';').
func uriOf(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[:i]
	}
	return v
}

// hostPort resolves a sip URI's host:port (default 5060).
func hostPort(uri string) (netip.AddrPort, error) {
	u := strings.TrimPrefix(strings.TrimPrefix(uri, "sips:"), "sip:")
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexAny(u, ";?>"); i >= 0 {
		u = u[:i]
	}
	if !strings.Contains(u, "]") && strings.Count(u, ":") == 0 || strings.HasSuffix(u, "]") {
		u += ":5060"
	}
	ap, err := netip.ParseAddrPort(u)
	if err != nil {
		return ap, fmt.Errorf("phone: uri %q: %w", uri, err)
	}
	return ap, nil
}

// viaTarget is where a response to a request with top Via v goes.
func viaTarget(v string, src netip.AddrPort) netip.AddrPort {
	_, rest, _ := strings.Cut(v, " ")
	hp, params, _ := strings.Cut(rest, ";")
	ap, err := hostPort(strings.TrimSpace(hp))
	if err != nil {
		return src
	}
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "received":
			if a, err := netip.ParseAddr(val); err == nil {
				ap = netip.AddrPortFrom(a, ap.Port())
			}
		case "rport":
			if n, err := strconv.Atoi(val); err == nil && n > 0 {
				ap = netip.AddrPortFrom(ap.Addr(), uint16(n))
			}
		}
	}
	return ap
}

// MediaAddr returns the audio address of an SDP body (c= and m=audio).
func MediaAddr(sdp []byte) (netip.AddrPort, error) {
	var ip netip.Addr
	var port int
	for _, l := range strings.Split(string(sdp), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "c=IN IP4 "), strings.HasPrefix(l, "c=IN IP6 "):
			if a, err := netip.ParseAddr(strings.Fields(l)[2]); err == nil && (port == 0 || !ip.IsValid()) {
				ip = a
			}
		case strings.HasPrefix(l, "m=audio "):
			port, _ = strconv.Atoi(strings.Fields(l)[1])
		}
	}
	if !ip.IsValid() || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("phone: no audio address in SDP:\n%s", sdp)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
