package ice

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Candidate types as written in SDP.
const (
	TypeHost  = "host"
	TypeSrflx = "srflx"
	TypePrflx = "prflx"
	TypeRelay = "relay"
)

// Type preferences (RFC 8445 §5.1.2.2) as rtpengine uses them: host 126,
// relay 0 (rtpengine's force-relay candidates carry priority 16777215).
const (
	typePrefHost  = 126
	typePrefPrflx = 110
	typePrefSrflx = 100
	typePrefRelay = 0
)

// ErrBadCandidate is returned for an a=candidate value that cannot be parsed.
var ErrBadCandidate = errors.New("bad ICE candidate")

// Candidate is one a=candidate line. Addr is invalid for candidates whose
// address is not an IP literal (mDNS names); such candidates are kept for
// pass-through but never paired.
type Candidate struct {
	Foundation string
	Component  int
	Transport  string // "UDP" as written by rtpengine; compared case-insensitively
	Priority   uint32
	Host       string         // the connection-address as written
	Port       uint16         // the port as written
	Addr       netip.AddrPort // Host:Port when Host is an IP literal
	Type       string
	RelAddr    string
	RelPort    int
	Extensions []string // name/value tokens after the type, kept in order
}

// Priority computes an RFC 8445 candidate priority.
func Priority(typePref, localPref, component int) uint32 {
	return uint32(typePref)<<24 | uint32(localPref&0xffff)<<8 | uint32(256-component)
}

// HostPriority is the priority rtpengine gives its host candidate for the
// idx-th address of an interface (2130706431, 2130706175, ... for component 1).
func HostPriority(idx, component int) uint32 {
	return Priority(typePrefHost, 65535-idx, component)
}

// RelayPriority is the priority rtpengine gives its force-relay candidates
// (16777215, 16776959, ... for component 1).
func RelayPriority(idx, component int) uint32 {
	return Priority(typePrefRelay, 65535-idx, component)
}

// PrflxPriority is the PRIORITY a check from this component carries.
func PrflxPriority(component int) uint32 {
	return Priority(typePrefPrflx, 65535, component)
}

// Foundation returns a stable 16-character foundation for a local address,
// the same for both components as RFC 8445 requires.
func Foundation(addr netip.Addr, typ string) string {
	sum := sha256.Sum256([]byte(typ + "/" + addr.String()))
	const chars = alnum
	out := make([]byte, 16)
	for i := range out {
		out[i] = chars[int(sum[i])%len(chars)]
	}
	return string(out)
}

// ParseCandidate parses an a=candidate value (the text after "candidate:";
// a leading "candidate:" is accepted too).
func ParseCandidate(s string) (Candidate, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "candidate:")
	f := strings.Fields(s)
	if len(f) < 8 || f[6] != "typ" {
		return Candidate{}, fmt.Errorf("%w: %q", ErrBadCandidate, s)
	}
	var c Candidate
	c.Foundation = f[0]
	comp, err := strconv.Atoi(f[1])
	if err != nil || comp < 1 || comp > 256 {
		return Candidate{}, fmt.Errorf("%w: component %q", ErrBadCandidate, f[1])
	}
	c.Component = comp
	c.Transport = f[2]
	prio, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return Candidate{}, fmt.Errorf("%w: priority %q", ErrBadCandidate, f[3])
	}
	c.Priority = uint32(prio)
	c.Host = f[4]
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return Candidate{}, fmt.Errorf("%w: port %q", ErrBadCandidate, f[5])
	}
	c.Port = uint16(port)
	if ip, err := netip.ParseAddr(f[4]); err == nil && ip.Zone() == "" {
		c.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	} else if err != nil && !strings.HasSuffix(f[4], ".local") {
		return Candidate{}, fmt.Errorf("%w: address %q", ErrBadCandidate, f[4])
	}
	c.Type = f[7]
	rest := f[8:]
	for len(rest) >= 2 {
		switch rest[0] {
		case "raddr":
			c.RelAddr = rest[1]
		case "rport":
			rp, err := strconv.ParseUint(rest[1], 10, 16)
			if err != nil {
				return Candidate{}, fmt.Errorf("%w: rport %q", ErrBadCandidate, rest[1])
			}
			c.RelPort = int(rp)
		default:
			c.Extensions = append(c.Extensions, rest[0], rest[1])
		}
		rest = rest[2:]
	}
	if len(rest) != 0 {
		return Candidate{}, fmt.Errorf("%w: dangling %q", ErrBadCandidate, rest[0])
	}
	return c, nil
}

// String formats the candidate as an a=candidate value (without the
// "candidate:" prefix), in rtpengine's form for its own candidates.
func (c Candidate) String() string {
	var b strings.Builder
	host := c.Host
	if host == "" {
		host = c.Addr.Addr().String()
	}
	port := c.Port
	if port == 0 {
		port = c.Addr.Port()
	}
	fmt.Fprintf(&b, "%s %d %s %d %s %d typ %s", c.Foundation, c.Component, c.Transport, c.Priority, host, port, c.Type)
	if c.RelAddr != "" {
		fmt.Fprintf(&b, " raddr %s rport %d", c.RelAddr, c.RelPort)
	}
	for _, e := range c.Extensions {
		b.WriteByte(' ')
		b.WriteString(e)
	}
	return b.String()
}

// usableUDP reports whether the agent can pair with this remote candidate.
func (c Candidate) usableUDP(component int) bool {
	return c.Addr.IsValid() && c.Addr.Port() != 0 && c.Component == component &&
		strings.EqualFold(c.Transport, "udp")
}
