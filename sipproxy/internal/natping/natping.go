// Package natping keeps the NAT bindings of UDP registrations open, as
// nathelper's natping_interval does in OpenSIPS and Kamailio: every
// interval each contact registered over UDP gets a 4-byte keepalive or,
// with sipping, an OPTIONS request, sent from the listener its REGISTER
// came in on to the address it came from (the received address of
// fix_nated_register). With a timeout, a contact that has answered no
// OPTIONS for that long is removed, as Kamailio's keepalive_timeout does:
// a phone that went away stops being called long before its registration
// would expire.
//
// Pings are spread over the interval (each contact has its slot, by a
// hash of its address of record and contact) so that many registrations
// do not make a burst. They are sent statelessly, once per interval, as
// the modules send them; a reply of any status counts as an answer.
package natping

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/registrar"
)

// Settings are the natping keys.
type Settings struct {
	Interval time.Duration // natping_interval; 0: no pings
	SIPPing  bool          // OPTIONS instead of keepalives (sipping_bflag on every contact)
	From     string        // sipping_from; empty: sip:pinger@ the proxy's first domain or address
	Timeout  time.Duration // keepalive_timeout; 0: contacts are never removed for silence
}

// AddFlags registers the natping keys on fs.
func AddFlags(fs *flag.FlagSet, s *Settings) {
	fs.DurationVar(&s.Interval, "natping-interval", s.Interval, "ping every contact registered over UDP this often to keep its NAT binding open (nathelper natping_interval; 0: off)")
	fs.BoolVar(&s.SIPPing, "sipping", s.SIPPing, "ping with SIP OPTIONS instead of 4-byte keepalives (nathelper sipping)")
	fs.StringVar(&s.From, "sipping-from", s.From, "From URI of the OPTIONS pings (default sip:pinger@ the first --domain or listener address)")
	fs.DurationVar(&s.Timeout, "natping-timeout", s.Timeout, "remove a contact that has answered no OPTIONS ping for this long (Kamailio keepalive_timeout; needs --sipping; 0: never)")
}

// Validate checks the keys against each other.
func (s Settings) Validate() error {
	switch {
	case s.Interval < 0 || s.Timeout < 0:
		return errors.New("natping-interval and natping-timeout must not be negative")
	case s.Timeout > 0 && !s.SIPPing:
		return errors.New("natping-timeout needs --sipping: a keepalive gets no answer")
	case s.Timeout > 0 && s.Interval == 0:
		return errors.New("natping-timeout needs --natping-interval")
	case s.Timeout > 0 && s.Timeout < 2*s.Interval:
		return errors.New("natping-timeout must be at least twice natping-interval (one lost ping must not remove a contact)")
	}
	if s.From != "" {
		if _, err := fromURI(s.From); err != nil {
			return err
		}
	}
	return nil
}

func fromURI(s string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil || u.Host == "" {
		return u, fmt.Errorf("sipping-from %q: not a SIP URI", s)
	}
	return u, nil
}

// keepalive is what nathelper sends without sipping: four zero bytes,
// which a SIP stack drops as noise and which refresh the NAT binding.
var keepalive = []byte{0, 0, 0, 0}

// Sender sends a datagram from one of the proxy's UDP listeners, named as
// a registration records it ("udp:IP:PORT").
type Sender interface {
	WriteUDP(socket string, to netip.AddrPort, b []byte) error
}

// Metrics count the pings.
type Metrics struct {
	Sent         atomic.Int64 // keepalives and OPTIONS sent
	Answered     atomic.Int64 // replies to our OPTIONS
	Removed      atomic.Int64 // contacts removed for silence
	SendFailures atomic.Int64
}

// Pinger pings the UDP contacts of a location table.
type Pinger struct {
	Metrics

	set   Settings
	from  sip.Uri
	store registrar.Store
	send  Sender
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	pending map[string]pending    // our OPTIONS by Via branch
	seen    map[contactKey]*state // per contact pinged
}

type contactKey struct{ aor, contact string }

type pending struct {
	key  contactKey
	sent time.Time
}

type state struct {
	answered time.Time // last reply to an OPTIONS
	visited  time.Time // last round that found the contact
}

// New returns a pinger; from is sipping_from when s.From is empty. It
// does nothing until Run.
func New(s Settings, from string, store registrar.Store, send Sender, log *slog.Logger) (*Pinger, error) {
	if s.From != "" {
		from = s.From
	}
	u, err := fromURI(from)
	if err != nil {
		return nil, err
	}
	return &Pinger{set: s, from: u, store: store, send: send, log: log, now: time.Now,
		pending: map[string]pending{}, seen: map[contactKey]*state{}}, nil
}

// step is how often Run wakes: a second, or the interval when shorter.
func (p *Pinger) step() time.Duration { return min(p.set.Interval, time.Second) }

// Run pings until ctx ends.
func (p *Pinger) Run(ctx context.Context) {
	step := p.step()
	slots := max(1, int(p.set.Interval/step))
	t := time.NewTicker(step)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.round(ctx, n%slots, slots)
	}
}

// round pings the contacts of one slot.
func (p *Pinger) round(ctx context.Context, slot, slots int) {
	now := p.now()
	all, err := p.store.All(ctx, now)
	if err != nil {
		p.log.Warn("natping: location table", "error", err)
		return
	}
	for i := range all {
		b := &all[i]
		if !strings.HasPrefix(b.Socket, "udp:") || slotOf(b, slots) != slot {
			continue
		}
		p.ping(ctx, b, now)
	}
	if slot == 0 {
		p.forget(now)
	}
}

func slotOf(b *registrar.Binding, slots int) int {
	h := fnv.New32a()
	h.Write([]byte(b.AOR))
	h.Write([]byte{0})
	h.Write([]byte(b.Contact))
	return int(h.Sum32() % uint32(slots))
}

// ping sends one contact its ping, or removes it when it has been silent
// for the timeout.
func (p *Pinger) ping(ctx context.Context, b *registrar.Binding, now time.Time) {
	dst, err := destination(b)
	if err != nil {
		p.log.Debug("natping: contact not pinged", "aor", b.AOR, "contact", b.Contact, "error", err)
		return
	}
	key := contactKey{b.AOR, b.Contact}
	p.mu.Lock()
	st := p.seen[key]
	if st == nil {
		st = &state{}
		p.seen[key] = st
	}
	st.visited = now
	last := st.answered
	p.mu.Unlock()
	if b.Updated.After(last) {
		last = b.Updated // a REGISTER is an answer too
	}
	if p.set.Timeout > 0 && now.Sub(last) > p.set.Timeout {
		p.remove(ctx, b, now)
		return
	}
	msg := keepalive
	if p.set.SIPPing {
		branch := newBranch()
		msg = p.options(b, branch)
		p.mu.Lock()
		p.pending[branch] = pending{key: key, sent: now}
		p.mu.Unlock()
	}
	if err := p.send.WriteUDP(b.Socket, dst, msg); err != nil {
		p.SendFailures.Add(1)
		p.log.Debug("natping: send failed", "aor", b.AOR, "to", dst.String(), "error", err)
		return
	}
	p.Sent.Add(1)
}

// remove drops b unless a REGISTER has rewritten it meanwhile.
func (p *Pinger) remove(ctx context.Context, b *registrar.Binding, now time.Time) {
	removed := false
	_, err := p.store.Update(ctx, b.AOR, now, func(bs []registrar.Binding) ([]registrar.Binding, error) {
		keep := bs[:0]
		for _, x := range bs {
			if x.Contact == b.Contact && x.Updated.Equal(b.Updated) {
				removed = true
				continue
			}
			keep = append(keep, x)
		}
		return keep, nil
	})
	if err != nil {
		p.log.Warn("natping: removing a silent contact", "aor", b.AOR, "contact", b.Contact, "error", err)
		return
	}
	p.mu.Lock()
	delete(p.seen, contactKey{b.AOR, b.Contact})
	p.mu.Unlock()
	if removed {
		p.Removed.Add(1)
		p.log.Info("natping: contact removed, no answer to OPTIONS", "aor", b.AOR, "contact", b.Contact,
			"received", b.Received, "timeout", p.set.Timeout)
	}
}

// forget drops what is kept of contacts no round has found for two
// intervals (unregistered or expired) and of pings nobody answered.
func (p *Pinger) forget(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, st := range p.seen {
		if now.Sub(st.visited) > 2*p.set.Interval {
			delete(p.seen, k)
		}
	}
	for br, pd := range p.pending {
		if now.Sub(pd.sent) > max(p.set.Interval, 64*sip.T1) {
			delete(p.pending, br)
		}
	}
}

// Response takes a reply to one of our OPTIONS; false: not one. It runs in
// a listener's read loop and never blocks for long.
func (p *Pinger) Response(res *sip.Response) bool {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.OPTIONS {
		return false
	}
	via := res.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	p.mu.Lock()
	pd, ok := p.pending[branch]
	if ok {
		delete(p.pending, branch)
		if st := p.seen[pd.key]; st != nil {
			st.answered = p.now()
		}
	}
	p.mu.Unlock()
	if ok {
		p.Answered.Add(1)
	}
	return ok
}

// destination is where the REGISTER came from: the received address, or
// the contact itself when it was not recorded.
func destination(b *registrar.Binding) (netip.AddrPort, error) {
	raw := b.Received
	if raw == "" {
		raw = b.Contact
	}
	var u sip.Uri
	if err := sip.ParseUri(strings.Trim(raw, "<>"), &u); err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", raw, err)
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: host is not an IP address", raw)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

func newBranch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return sip.RFC3261BranchMagicCookie + "-np" + hex.EncodeToString(b[:])
}

// options is the OPTIONS request for b, as nathelper's sipping sends it:
// to the contact, From sipping_from with a tag, our Via with branch, plus
// the Max-Forwards RFC 3261 asks of every request (nathelper leaves it
// out).
func (p *Pinger) options(b *registrar.Binding, branch string) []byte {
	var to sip.Uri
	if err := sip.ParseUri(strings.Trim(b.Contact, "<>"), &to); err != nil {
		to = sip.Uri{Scheme: "sip", Host: "invalid"}
	}
	host, port := socketAddr(b.Socket)
	req := sip.NewRequest(sip.OPTIONS, to)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", branch)
	req.AppendHeader(via)
	fp := sip.NewParams()
	fp.Add("tag", branch[len(sip.RFC3261BranchMagicCookie)+1:])
	req.AppendHeader(&sip.FromHeader{Address: p.from, Params: fp})
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	callID := sip.CallIDHeader(branch[len(sip.RFC3261BranchMagicCookie)+1:] + "@" + host)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	return []byte(req.String())
}

// socketAddr splits "udp:IP:PORT".
func socketAddr(sock string) (string, int) {
	_, addr, _ := strings.Cut(sock, ":")
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(ps)
	return host, port
}
