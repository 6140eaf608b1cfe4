package transport

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// Stats are the transport counters shown by the management API.
type Stats struct {
	Oversized    atomic.Int64 // messages above MaxMessageSize, dropped
	Malformed    atomic.Int64 // messages that are not SIP, dropped (or 400)
	Rejected400  atomic.Int64 // 400 replies sent for malformed requests
	ParseFailed  atomic.Int64 // messages sipgo's parser refused (dropped)
	WSConns      atomic.Int64 // open WS/WSS connections
	WSRejected   atomic.Int64 // WS upgrades refused (origin, subprotocol)
	WSIdleClosed atomic.Int64 // WS connections closed for idleness
}

// ReadFilter returns the sipgo read filter: it refuses oversized messages
// and obviously malformed datagrams/frames before sipgo parses them.
// Returning an error from the filter closes a WS connection (a frame that is
// not SIP ends that connection only) but would stop a UDP listener, so UDP
// drops with an empty result instead. TCP delivers stream chunks, so only
// the size of a chunk is checked there (sipgo's stream parser bounds
// messages itself).
func (m *Manager) ReadFilter() sip.TransportReadFilter { return m.Filter }

// Filter is the read filter itself (see ReadFilter).
func (m *Manager) Filter(info sip.TransportReadProps, data []byte) ([]byte, error) {
	max := m.opts.MaxMessageSize
	reliableStream := info.Transport == "TCP" || info.Transport == "TLS"
	if max > 0 && len(data) > max && !reliableStream {
		m.Oversized.Add(1)
		return m.drop(info)
	}
	if reliableStream || isKeepAlive(data) {
		return data, nil
	}
	if err := Check(data); err != nil {
		m.Malformed.Add(1)
		m.reply400(info, data)
		return m.drop(info)
	}
	return data, nil
}

var errNotSIP = errors.New("not a SIP message")

func (m *Manager) drop(info sip.TransportReadProps) ([]byte, error) {
	if info.Transport == "WS" || info.Transport == "WSS" {
		return nil, errNotSIP
	}
	return nil, nil
}

func isKeepAlive(data []byte) bool {
	return len(data) <= 4 && len(bytes.Trim(data, "\r\n")) == 0
}

// Check is a cheap structural test of one whole SIP message: a request or
// status line, header lines with a colon, and an empty line ending the
// header section. sipgo's parser does the real parsing afterwards.
func Check(data []byte) error {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return errors.New("no end of headers")
	}
	head := data[:end]
	first, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !validStartLine(first) {
		return errors.New("bad start line")
	}
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			return errors.New("empty header line")
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // folded continuation
		}
		if bytes.IndexByte(line, ':') <= 0 {
			return errors.New("header without colon")
		}
	}
	return nil
}

func validStartLine(l []byte) bool {
	if bytes.HasPrefix(l, []byte("SIP/2.0 ")) {
		return len(l) >= 11 && isDigits(l[8:11])
	}
	parts := bytes.Split(l, []byte(" "))
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[1]) == 0 {
		return false
	}
	if !bytes.Equal(parts[2], []byte("SIP/2.0")) {
		return false
	}
	for _, c := range parts[0] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_' || c == '.' || c == '!' || c == '%' || c == '*' || c == '+' || c == '~' || c == '`' || c == '\'') {
			return false
		}
	}
	return bytes.IndexByte(parts[1], ':') > 0
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reply400 answers a malformed request with 400 when the headers needed to
// address a response (Via, From, To, Call-ID, CSeq) can be found as text.
func (m *Manager) reply400(info sip.TransportReadProps, data []byte) {
	if bytes.HasPrefix(data, []byte("SIP/2.0")) || info.RemoteAddr == nil {
		return // responses are never answered
	}
	want := map[string]string{"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To",
		"call-id": "Call-ID", "i": "Call-ID", "cseq": "CSeq"}
	found := map[string]string{}
	for _, line := range strings.Split(string(data), "\r\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		canon, ok := want[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			continue
		}
		if _, dup := found[canon]; !dup {
			found[canon] = strings.TrimSpace(val)
		}
	}
	if len(found) != 5 || !strings.HasPrefix(found["Via"], "SIP/2.0/") {
		return
	}
	res := sip.NewResponse(400, "Bad Request")
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		res.AppendHeader(sip.NewHeader(h, found[h]))
	}
	res.SetBody(nil)
	res.SetTransport(info.Transport)
	res.SetDestination(info.RemoteAddr.String())
	pool := m.ua.TransportLayer().Pool(info.Transport)
	if pool == nil {
		return
	}
	key := info.RemoteAddr.String()
	if info.Transport == "UDP" {
		key = info.LocalAddr.String()
	}
	c := pool.Get(key)
	if c == nil {
		return
	}
	defer c.TryClose()
	if err := c.WriteMsg(res); err == nil {
		m.Rejected400.Add(1)
	}
}
