package kmod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
)

// maxFlows bounds the flows of one Offloader (two map elements each).
const maxFlows = 1 << 23

// Offloader owns one nftables table.
// Its methods are safe for concurrent use; netlink requests are serialized.
// A nil *Offloader is the disabled kernel path: its methods return
// ErrDisabled (Close and Flows do nothing), so callers need no nil checks.
type Offloader struct {
	cfg  Config
	log  *slog.Logger
	spec famSpec

	mu     sync.Mutex
	nft    *nftables.Conn
	cr     *counterReader
	lock   *os.File // instance lock, nil if none could be taken
	rs     *ruleset
	flows  map[FlowKey]*entry
	locals map[netip.AddrPort]FlowKey // local endpoint -> flow using it
	legs   map[string]legRef          // leg key (tuple bytes) -> its flow and side
	closed bool
}

type entry struct {
	flow Flow
}

// legRef names the flow and side a leg element counts.
type legRef struct {
	flow  FlowKey
	fromB bool
}

// Open creates the table (atomically replacing a stale one of the same name)
// and returns an Offloader. Errors wrap ErrPermission or ErrUnsupported when
// the kernel path cannot run here, so the caller can fall back to userspace.
func Open(ctx context.Context, cfg Config) (*Offloader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Family == 0 {
		cfg.Family = IPv4
	}
	if cfg.Family != IPv4 && cfg.Family != IPv6 {
		return nil, fmt.Errorf("kmod: unknown family %d", cfg.Family)
	}
	if cfg.Table < 0 || cfg.Table > 127 {
		return nil, fmt.Errorf("kmod: table %d out of range 0..127", cfg.Table)
	}
	if cfg.PortMin < 1 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("kmod: bad port range %d-%d", cfg.PortMin, cfg.PortMax)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Offloader{
		cfg:    cfg,
		log:    log.With("table", TableName(cfg.Table), "family", cfg.Family.String()),
		spec:   specFor(cfg.Family),
		flows:  make(map[FlowKey]*entry),
		locals: make(map[netip.AddrPort]FlowKey),
		legs:   make(map[string]legRef),
	}
	if err := o.checkForwarding(); err != nil {
		return nil, err
	}
	lock, err := instanceLock(cfg)
	if err != nil {
		return nil, err
	}
	o.lock = lock
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	nft, err := nftables.New(opts...)
	if err != nil {
		o.unlock()
		return nil, classify("kmod: nftables netlink", err)
	}
	o.rs = newRuleset(TableName(cfg.Table), o.spec)
	cr, err := dialCounterReader(cfg.NetNS, byte(o.spec.table), o.rs.table.Name, o.rs.leg.Name)
	if err != nil {
		nft.CloseLasting()
		o.unlock()
		return nil, classify("kmod: nftables netlink", err)
	}
	o.nft, o.cr = nft, cr
	if err := o.rs.install(nft, o.spec, uint16(cfg.PortMin), uint16(cfg.PortMax), cfg.SocketMark, cfg.TOS); err != nil {
		o.closeConns()
		return nil, fmt.Errorf("kmod: build table: %w", err)
	}
	if err := nft.Flush(); err != nil {
		o.closeConns()
		return nil, classify("kmod: create table "+TableName(cfg.Table), err)
	}
	o.log.Info("kernel fast path ready", "ports", fmt.Sprintf("%d-%d", cfg.PortMin, cfg.PortMax))
	return o, nil
}

// checkForwarding refuses to run when the namespace does not forward
// (kernelized packets to remote peers would be dropped silently) or, for
// IPv4, does not accept packets from its own addresses: a rewritten packet
// carries the relay's address as its source before it is routed, which
// IPv4 input routing drops as martian unless accept_local is set.
func (o *Offloader) checkForwarding() error {
	paths := []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/all/accept_local"}
	if o.cfg.Family == IPv6 {
		paths = []string{"/proc/sys/net/ipv6/conf/all/forwarding"}
	}
	return inNetNS(o.cfg.NetNS, func() error {
		for _, path := range paths {
			val, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("kmod: read %s: %w: %w", path, ErrUnsupported, err)
			}
			if strings.TrimSpace(string(val)) != "1" {
				return fmt.Errorf("kmod: %s is 0: %w", path, ErrUnsupported)
			}
		}
		// Strict reverse-path filtering works only where each relay
		// address sits on the interface its peers' packets arrive on.
		if o.cfg.Family == IPv4 {
			if val, err := os.ReadFile("/proc/sys/net/ipv4/conf/all/rp_filter"); err == nil && strings.TrimSpace(string(val)) == "1" {
				o.log.Warn("net.ipv4.conf.all.rp_filter=1 (strict) drops kernel-forwarded media whose new source address is on another interface than the one it arrived on; 2 (loose) avoids that")
			}
		}
		return nil
	})
}

func (o *Offloader) deleteTable() error {
	o.nft.DelTable(o.rs.table)
	return o.nft.Flush()
}

func (o *Offloader) closeConns() {
	o.nft.CloseLasting()
	o.cr.Close()
	o.unlock()
}

func (o *Offloader) unlock() {
	if o.lock != nil {
		releaseLock(o.lock)
		o.lock = nil
	}
}

// Close removes the table; the relay's sockets receive all packets again.
func (o *Offloader) Close() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	if err := o.deleteTable(); err != nil {
		errs = append(errs, fmt.Errorf("kmod: delete table: %w", err))
	}
	o.closeConns()
	o.log.Info("kernel fast path closed", "flows", len(o.flows))
	o.flows = nil
	return errors.Join(errs...)
}

func (o *Offloader) wire(ap netip.AddrPort) addrPort {
	return addrPort{addr: ap.Addr().AsSlice(), port: ap.Port()}
}

// normalize unmaps IPv4-mapped IPv6 addresses (dual-stack sockets report
// them) so that the flow's key is canonical.
func normalize(f Flow) Flow {
	un := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
	return Flow{LocalA: un(f.LocalA), PeerA: un(f.PeerA), LocalB: un(f.LocalB), PeerB: un(f.PeerB)}
}

func (o *Offloader) validate(f Flow) error {
	want6 := o.cfg.Family == IPv6
	for _, ap := range []netip.AddrPort{f.LocalA, f.PeerA, f.LocalB, f.PeerB} {
		a := ap.Addr()
		if !ap.IsValid() || ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a.Is6() != want6 {
			return fmt.Errorf("%w: %s: bad address %s for %s", ErrInvalidFlow, f, ap, o.cfg.Family)
		}
	}
	for _, ap := range []netip.AddrPort{f.LocalA, f.LocalB} {
		if p := int(ap.Port()); p < o.cfg.PortMin || p > o.cfg.PortMax {
			return fmt.Errorf("%w: %s: local port %d outside %d-%d", ErrInvalidFlow, f, p, o.cfg.PortMin, o.cfg.PortMax)
		}
	}
	if f.LocalA == f.LocalB {
		return fmt.Errorf("%w: %s: both sides on one local port", ErrInvalidFlow, f)
	}
	return nil
}

// Add offloads a flow: from now on the kernel forwards both directions,
// whichever side sends first. Adding a flow with the same local endpoints
// and other peers (re-latching) replaces it; adding the same flow again is
// a no-op. When Add fails the flow stays in userspace.
func (o *Offloader) Add(f Flow) error {
	if o == nil {
		return ErrDisabled
	}
	f = normalize(f)
	if err := o.validate(f); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	for _, l := range []netip.AddrPort{f.LocalA, f.LocalB} {
		if k, ok := o.locals[l]; ok && k != f.Key() {
			return fmt.Errorf("%w: %s: local %s already offloaded in %s...%s", ErrInvalidFlow, f, l, k.LocalA, k.LocalB)
		}
	}
	if old, ok := o.flows[f.Key()]; ok {
		if old.flow == f {
			return nil
		}
		if err := o.remove(old); err != nil {
			return err
		}
	}
	if len(o.flows) >= maxFlows {
		return ErrFull
	}
	e := &entry{flow: f}
	o.queueElements(e, true)
	if err := o.nft.Flush(); err != nil {
		return fmt.Errorf("kmod: add flow %s: %w", f, err)
	}
	o.flows[f.Key()] = e
	o.locals[f.LocalA], o.locals[f.LocalB] = f.Key(), f.Key()
	ka, kb := o.legKeys(f)
	o.legs[string(ka)], o.legs[string(kb)] = legRef{f.Key(), false}, legRef{f.Key(), true}
	o.log.Debug("flow offloaded", "flow", f.String())
	return nil
}

// Remove hands a flow back to userspace: its elements are deleted, so the
// next packet reaches the still-bound socket.
// RemoveStats also returns the final counters.
func (o *Offloader) Remove(f Flow) error {
	_, err := o.remove2(f, false)
	return err
}

// RemoveStats is Remove returning the flow's final counters, read just
// before its elements go.
func (o *Offloader) RemoveStats(f Flow) (Stats, error) {
	return o.remove2(f, true)
}

func (o *Offloader) remove2(f Flow, withStats bool) (Stats, error) {
	if o == nil {
		return Stats{}, ErrDisabled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.lookup(f)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	if withStats {
		var err error
		if st, err = o.stats(e); err != nil {
			return Stats{}, err
		}
	}
	return st, o.remove(e)
}

func (o *Offloader) remove(e *entry) error {
	o.queueElements(e, false)
	if err := o.nft.Flush(); err != nil {
		return fmt.Errorf("kmod: remove flow %s: %w", e.flow, err)
	}
	delete(o.flows, e.flow.Key())
	delete(o.locals, e.flow.LocalA)
	delete(o.locals, e.flow.LocalB)
	ka, kb := o.legKeys(e.flow)
	delete(o.legs, string(ka))
	delete(o.legs, string(kb))
	o.log.Debug("flow returned to userspace", "flow", e.flow.String())
	return nil
}

// queueElements adds or deletes, in the pending batch, the flow's two leg
// elements: what A sends leaves from LocalB to PeerB, and the reverse.
func (o *Offloader) queueElements(e *entry, add bool) {
	s := o.spec
	f := e.flow
	la, pa, lb, pb := o.wire(f.LocalA), o.wire(f.PeerA), o.wire(f.LocalB), o.wire(f.PeerB)
	ka, kb := o.legKeys(f)
	leg := []nftables.SetElement{{Key: ka, Val: s.tuple(lb, pb)}, {Key: kb, Val: s.tuple(la, pa)}}
	op := o.nft.SetAddElements
	if !add {
		op = o.nft.SetDeleteElements
	}
	// Errors here are marshalling errors of fixed-size keys; Flush reports
	// them too, so they are not lost.
	_ = op(o.rs.leg, leg)
}

// legKeys returns the flow's two leg keys, A's and B's: the packet keys of
// what each peer sends, which also carry the per-direction counters.
func (o *Offloader) legKeys(f Flow) (a, b []byte) {
	return o.spec.tuple(o.wire(f.PeerA), o.wire(f.LocalA)), o.spec.tuple(o.wire(f.PeerB), o.wire(f.LocalB))
}

// Flows returns the offloaded flows.
func (o *Offloader) Flows() []Flow {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Flow, 0, len(o.flows))
	for _, e := range o.flows {
		out = append(out, e.flow)
	}
	return out
}

// Counters returns one flow's kernel counters with one netlink round trip
// (two element lookups, whatever the number of flows).
func (o *Offloader) Counters(f Flow) (Stats, error) {
	if o == nil {
		return Stats{}, ErrDisabled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.lookup(f)
	if err != nil {
		return Stats{}, err
	}
	return o.stats(e)
}

// lookup finds an installed flow; o.mu is held.
func (o *Offloader) lookup(f Flow) (*entry, error) {
	if o.closed {
		return nil, ErrClosed
	}
	f = normalize(f)
	e, ok := o.flows[f.Key()]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, f)
	}
	return e, nil
}

func (o *Offloader) stats(e *entry) (Stats, error) {
	c, err := o.cr.get(o.legKeys(e.flow))
	if err != nil {
		return Stats{}, fmt.Errorf("kmod: read counters of %s: %w", e.flow, err)
	}
	return Stats{FromA: c[0], FromB: c[1]}, nil
}

// AllCounters returns the kernel counters of every offloaded flow with one
// dump of the leg map. Counters start at zero on each Add.
func (o *Offloader) AllCounters() (map[FlowKey]Stats, error) {
	if o == nil {
		return nil, ErrDisabled
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	out := make(map[FlowKey]Stats, len(o.flows))
	for k := range o.flows {
		out[k] = Stats{}
	}
	err := o.cr.dump(func(key []byte, c Counter) {
		l, ok := o.legs[string(key)]
		if !ok {
			return
		}
		st := out[l.flow]
		if l.fromB {
			st.FromB = c
		} else {
			st.FromA = c
		}
		out[l.flow] = st
	})
	if err != nil {
		return nil, fmt.Errorf("kmod: read counters: %w", err)
	}
	return out, nil
}
