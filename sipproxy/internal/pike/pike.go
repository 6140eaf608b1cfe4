// Package pike is flood protection by source address, as Kamailio's
// default configuration does it with its pike and htable modules
// (WITH_ANTIFLOOD): a source sending more than a number of requests in
// an interval is banned for a while, and its requests are dropped
// unanswered until the ban ends (a scanner or a broken phone in a loop
// gets no work done here, and learns nothing). The proxy's own addresses
// and trusted networks (gateways, other proxies) are never banned.
//
// The count is per address over a fixed window: a source is banned once
// it sent more than the density within one interval (Kamailio's pike
// blocks somewhere between one and three times its density).
package pike

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are the pike keys.
type Settings struct {
	Density  int           // requests per source and interval allowed; 0: off
	Interval time.Duration // sampling_time_unit
	Ban      time.Duration // how long a flooding source is dropped
	Trusted  []netip.Prefix
}

// DefaultSettings: off; Kamailio's default configuration's interval and
// ban when on.
func DefaultSettings() Settings { return Settings{Interval: 2 * time.Second, Ban: 300 * time.Second} }

type prefixes []netip.Prefix

func (p *prefixes) String() string {
	var s []string
	for _, x := range *p {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func (p *prefixes) Set(v string) error {
	x, err := netip.ParsePrefix(v)
	if err != nil {
		a, err2 := netip.ParseAddr(v)
		if err2 != nil {
			return fmt.Errorf("pike-trusted %q: want an address or CIDR: %w", v, err)
		}
		x = netip.PrefixFrom(a, a.BitLen())
	}
	*p = append(*p, x.Masked())
	return nil
}

// AddFlags registers the pike keys on fs.
func AddFlags(fs *flag.FlagSet, s *Settings) {
	fs.IntVar(&s.Density, "pike-density", s.Density, "flood protection: a source address sending more requests than this in one --pike-interval is banned (0: off)")
	fs.DurationVar(&s.Interval, "pike-interval", s.Interval, "flood protection: the counting window")
	fs.DurationVar(&s.Ban, "pike-ban", s.Ban, "flood protection: how long a flooding source's requests are dropped")
	fs.Var((*prefixes)(&s.Trusted), "pike-trusted", "address or CIDR never banned (repeatable; the proxy's own addresses never are)")
}

// Validate checks the keys.
func (s Settings) Validate() error {
	if s.Density < 0 {
		return errors.New("pike-density must not be negative")
	}
	if s.Density > 0 && (s.Interval <= 0 || s.Ban <= 0) {
		return errors.New("pike-interval and pike-ban must be positive")
	}
	return nil
}

// Guard counts requests per source and bans floods.
type Guard struct {
	set  Settings
	mine map[netip.Addr]bool
	log  *slog.Logger
	now  func() time.Time

	Banned  atomic.Int64 // bans started
	Dropped atomic.Int64 // requests dropped during bans

	mu  sync.Mutex
	src map[netip.Addr]*source
}

type source struct {
	start time.Time // of the current window
	n     int       // requests in it
	until time.Time // end of the ban; zero: none
}

// New returns a guard; mine are the proxy's own addresses.
func New(s Settings, mine []netip.Addr, log *slog.Logger) *Guard {
	g := &Guard{set: s, mine: map[netip.Addr]bool{}, log: log, now: time.Now, src: map[netip.Addr]*source{}}
	for _, a := range mine {
		g.mine[a.Unmap()] = true
	}
	return g
}

// Allow counts a request from src (ip:port) and reports whether it may be
// handled. A source that cannot be parsed is allowed (it never came over
// a network).
func (g *Guard) Allow(src string) bool {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return true
	}
	ip := ap.Addr().Unmap()
	if g.mine[ip] || g.trusted(ip) {
		return true
	}
	now := g.now()
	g.mu.Lock()
	s := g.src[ip]
	if s == nil {
		s = &source{start: now}
		g.src[ip] = s
	}
	if now.Before(s.until) {
		g.mu.Unlock()
		g.Dropped.Add(1)
		return false
	}
	if now.Sub(s.start) >= g.set.Interval {
		s.start, s.n = now, 0
	}
	s.n++
	if s.n <= g.set.Density {
		g.mu.Unlock()
		return true
	}
	s.until, s.n = now.Add(g.set.Ban), 0
	g.mu.Unlock()
	g.Banned.Add(1)
	g.Dropped.Add(1)
	g.log.Warn("pike: flood, source banned", "source", ip.String(), "requests", g.set.Density+1,
		"interval", g.set.Interval, "ban", g.set.Ban)
	return false
}

func (g *Guard) trusted(ip netip.Addr) bool {
	for _, p := range g.set.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Run forgets quiet sources every interval until ctx ends, so that the
// table holds only the sources of the last moments and the banned.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.set.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.sweep(g.now())
		}
	}
}

func (g *Guard) sweep(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ip, s := range g.src {
		if now.Sub(s.start) >= g.set.Interval && !now.Before(s.until) {
			delete(g.src, ip)
		}
	}
}

// Sources is how many sources the table holds.
func (g *Guard) Sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.src)
}
