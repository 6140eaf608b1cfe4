// Package rtpproxy serves rtpengine's legacy UDP control protocol
// (--listen-udp): the subset of rtpproxy's text commands that rtpengine
// answers, so that a proxy with an rtpproxy client (Kamailio's and
// OpenSIPS' rtpproxy modules) can use mediad unchanged. A command names
// one media stream by address and port; the proxy rewrites the SDP
// itself from the port and address in the reply.
//
//	COOKIE U[FLAGS] CALLID[;VIABRANCH] ADDR PORT FROMTAG;N [TOTAG;N]   offer
//	COOKIE L[FLAGS] CALLID[;VIABRANCH] ADDR PORT FROMTAG;N TOTAG;N     answer
//	COOKIE D[FLAGS] CALLID[;VIABRANCH] FROMTAG[;N] [TOTAG[;N]]         delete
//	COOKIE Q[FLAGS] CALLID[;VIABRANCH] FROMTAG[;N] [TOTAG[;N]]         query
//	COOKIE V[F] [VERSION]                                              version
//
// The grammar is rtpengine's (daemon/control_udp.c), regular expressions
// included, so that what it accepts and refuses is the same.
package rtpproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Command is one parsed request.
type Command struct {
	Cookie string
	// Op is the command letter, upper case: 'U', 'L', 'D', 'Q' or 'V'.
	Op    byte
	Flags string
	// CallID, ViaBranch, FromTag, ToTag: U, L, D and Q.
	CallID, ViaBranch, FromTag, ToTag string
	// Addr, Port and Index (the media number, 1 when absent or 0): U and L.
	Addr  netip.Addr
	Port  int
	Index int
	// Version is V's parameter (VF asks whether it is supported).
	Version string
}

// Group numbers of commandRE (rtpengine's RE_UDP_* in control_udp.h).
const (
	reCookie = 1 + iota
	reULCmd
	reULFlags
	reULCallID
	reULViaBranch
	reULAddr4
	reULAddr6
	reULPort
	reULFromTag
	reULNum
	reULToTag
	reDQCmd
	reDQFlags
	reDQCallID
	reDQViaBranch
	reDQFromTag
	reDQToTag
	reVCmd
	reVFlags
	reVParams
)

// commandRE is rtpengine's parse_re; PCRE's DOLLAR_ENDONLY is Go's
// default, CASELESS and DOTALL are (?is). Go's matcher is
// leftmost-first, as PCRE's, so the groups capture the same text.
var commandRE = pcre(`(?is)^(\S+)\s+(?:` +
	`([ul])(\S*)\s+([^;]+)(?:;(\S+))?\s+` +
	`(?:([\d.]+)|([\da-f:]+(?::ffff:[\d.]+)?))` +
	`\s+(\d+)\s+(\S+?);(\d+)(?:\s+(\S+?);\d+(?:\s+.*)?)?\r?\n?$` +
	`|([dq])(\S*)\s+([^;\t\n\v\f\r ]+)(?:;(\S+))?\s+(\S+?)(?:;\d+)?(?:\s+(\S+?)(?:;\d+)?)?\r?\n?$` +
	`|(v)(\S*)(?:\s+(\S+))?)`)

// fallbackRE is rtpengine's fallback_re: enough of a line to answer one
// that commandRE refuses (cookie, command letter, the third and fourth
// words).
var fallbackRE = pcre(`(?is)^(\S+)(?:\s+(\S)\S*\s+\S+(\s+\S+)(\s+\S+))?`)

// pcre compiles a pattern with PCRE's blanks: its \s includes the
// vertical tab, Go's does not.
func pcre(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.NewReplacer(`\s`, `[\t\n\v\f\r ]`, `\S`, `[^\t\n\v\f\r ]`).Replace(pattern))
}

// Errors of Parse.
var (
	// ErrSyntax: not even a cookie; rtpengine does not answer.
	ErrSyntax = errors.New("unparseable command line")
	// ErrBadValue: the line matched but a value is out of range (an
	// address that does not parse, a port above 65535).
	ErrBadValue = errors.New("bad value in command")
)

// Malformed is a line commandRE refuses but fallbackRE reads: rtpengine
// answers it without acting (Fallback).
type Malformed struct {
	Cookie string
	Op     byte   // upper-cased command letter, 0 if none
	Third  string // the third and fourth words with their leading
	Fourth string // blanks, as rtpengine echoes them
}

func (m *Malformed) Error() string {
	return fmt.Sprintf("malformed command line (cookie %q)", m.Cookie)
}

// Fallback is rtpengine's answer to a malformed line: an offer or answer
// gets back the address and port it gave (the proxy then leaves the media
// alone), anything else error E8.
func (m *Malformed) Fallback() string {
	if m.Op == 'U' || m.Op == 'L' {
		return m.Cookie + m.Fourth + m.Third + "\n"
	}
	return m.Cookie + " E8\n"
}

// Parse reads one datagram. A line that is not a command gives a
// *Malformed (answer it with Fallback) or ErrSyntax (no answer).
func Parse(b []byte) (*Command, error) {
	line := string(b)
	g := commandRE.FindStringSubmatch(line)
	if g == nil {
		f := fallbackRE.FindStringSubmatch(line)
		if f == nil {
			return nil, ErrSyntax
		}
		m := &Malformed{Cookie: f[1], Third: f[3], Fourth: f[4]}
		if f[2] != "" {
			m.Op = upper(f[2][0])
		}
		return nil, m
	}
	c := &Command{Cookie: g[reCookie]}
	switch {
	case g[reULCmd] != "":
		c.Op, c.Flags = upper(g[reULCmd][0]), g[reULFlags]
		c.CallID, c.ViaBranch = g[reULCallID], g[reULViaBranch]
		c.FromTag, c.ToTag = g[reULFromTag], g[reULToTag]
		a := g[reULAddr4]
		if a == "" {
			a = g[reULAddr6]
		}
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return c, fmt.Errorf("%w: address %q", ErrBadValue, a)
		}
		c.Addr = addr.Unmap()
		if c.Port, err = strconv.Atoi(g[reULPort]); err != nil || c.Port > 65535 {
			return c, fmt.Errorf("%w: port %q", ErrBadValue, g[reULPort])
		}
		// rtpengine: a missing or zero media number is 1.
		c.Index, _ = strconv.Atoi(g[reULNum])
		if c.Index == 0 {
			c.Index = 1
		}
	case g[reDQCmd] != "":
		c.Op, c.Flags = upper(g[reDQCmd][0]), g[reDQFlags]
		c.CallID, c.ViaBranch = g[reDQCallID], g[reDQViaBranch]
		c.FromTag, c.ToTag = g[reDQFromTag], g[reDQToTag]
	default:
		c.Op, c.Flags, c.Version = 'V', g[reVFlags], g[reVParams]
	}
	return c, nil
}

// Directions are the interface directions named by U's and L's flags
// ('e' external, 'i' internal; the first two count), as rtpengine reads
// them.
func (c *Command) Directions() []string {
	var d []string
	for i := 0; i < len(c.Flags) && len(d) < 2; i++ {
		switch upper(c.Flags[i]) {
		case 'E':
			d = append(d, "external")
		case 'I':
			d = append(d, "internal")
		}
	}
	return d
}

func upper(b byte) byte {
	if 'a' <= b && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}
