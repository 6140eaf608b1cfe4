package router

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/transport"
)

// Myself answers OpenSIPS' "== myself": a host:port of one of our listeners,
// or one of the configured domains/aliases (any port).
type Myself struct {
	socks   Sockets
	domains map[string]bool
}

// NewMyself builds the check from the live sockets and domain names.
func NewMyself(socks Sockets, domains []string) *Myself {
	m := &Myself{socks: socks, domains: map[string]bool{}}
	for _, d := range domains {
		m.domains[strings.ToLower(d)] = true
	}
	return m
}

// Host reports whether host (with port, 0 meaning the default) is ours.
// transport narrows the listener match when not empty.
func (m *Myself) Host(host string, port int, tp string) bool {
	host = strings.Trim(strings.ToLower(host), "[]")
	if m.domains[host] {
		return true
	}
	_, ok := m.Socket(host, port, tp)
	return ok
}

// Socket returns our listener for host:port (0: default port) and
// transport ("" any).
func (m *Myself) Socket(host string, port int, tp string) (transport.Socket, bool) {
	host = strings.Trim(strings.ToLower(host), "[]")
	tp = strings.ToUpper(tp)
	var fallback *transport.Socket
	for _, s := range m.socks.Sockets() {
		if s.IP != host {
			continue
		}
		p := port
		if p == 0 {
			p = sip.DefaultPort(s.Proto)
			if s.Proto == "udp" || s.Proto == "tcp" || s.Proto == "ws" {
				p = 5060
			}
		}
		if s.Port != p {
			continue
		}
		if tp == "" || s.Transport() == tp {
			return s, true
		}
		if fallback == nil {
			s := s
			fallback = &s
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return transport.Socket{}, false
}

// URI reports whether u points at us.
func (m *Myself) URI(u *sip.Uri) bool {
	tp, _ := u.UriParams.Get("transport")
	return m.Host(u.Host, u.Port, tp)
}
