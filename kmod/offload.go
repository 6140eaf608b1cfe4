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
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Mark layout: the top byte tags the table (0x80|Table), the rest carries
// flow id << 1 | side (0: A sent first, 1: B sent first).
const (
	markTagMask = 0xff000000
	maxFlowID   = 1<<23 - 1
)

// Offloader owns one nftables table and the conntrack entries its marks tag.
// Its methods are safe for concurrent use; netlink requests are serialized.
// A nil *Offloader is the disabled kernel path: its methods return
// ErrDisabled (Close and Flows do nothing), so callers need no nil checks.
type Offloader struct {
	cfg  Config
	log  *slog.Logger
	spec famSpec
	tag  uint32

	mu     sync.Mutex
	nft    *nftables.Conn
	ct     *conntrack.Conn
	cr     *counterReader
	lock   *os.File // instance lock, nil if none could be taken
	rs     *ruleset
	flows  map[FlowKey]*entry
	locals map[netip.AddrPort]FlowKey // local endpoint -> flow using it
	free   []uint32                   // released flow ids
	nextID uint32
	closed bool
}

type entry struct {
	flow Flow
	id   uint32
}

func (o *Offloader) markA(id uint32) uint32 { return o.tag | id<<1 }
func (o *Offloader) markB(id uint32) uint32 { return o.tag | id<<1 | 1 }

// Open creates the table (atomically replacing a stale one of the same name),
// removes conntrack entries a crashed instance left with this table's marks,
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
		tag:    uint32(0x80|cfg.Table) << 24,
		flows:  make(map[FlowKey]*entry),
		locals: make(map[netip.AddrPort]FlowKey),
		nextID: 1,
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
	ct, err := conntrack.Dial(&netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		nft.CloseLasting()
		o.unlock()
		return nil, classify("kmod: conntrack netlink", err)
	}
	o.rs = newRuleset(TableName(cfg.Table), o.spec)
	cr, err := dialCounterReader(cfg.NetNS, byte(o.spec.table), o.rs.table.Name, o.rs.leg.Name)
	if err != nil {
		nft.CloseLasting()
		ct.Close()
		o.unlock()
		return nil, classify("kmod: nftables netlink", err)
	}
	o.nft, o.ct, o.cr = nft, ct, cr
	if err := o.rs.install(nft, o.spec, uint16(cfg.PortMin), uint16(cfg.PortMax), cfg.SocketMark); err != nil {
		o.closeConns()
		return nil, fmt.Errorf("kmod: build table: %w", err)
	}
	if err := nft.Flush(); err != nil {
		o.closeConns()
		return nil, classify("kmod: create table "+TableName(cfg.Table), err)
	}
	// The new table's maps are empty, so no new entry can get our tag now:
	// what remains is residue of an earlier instance.
	if err := o.flushMarks(); err != nil {
		o.deleteTable()
		o.closeConns()
		return nil, err
	}
	o.log.Info("kernel fast path ready", "ports", fmt.Sprintf("%d-%d", cfg.PortMin, cfg.PortMax),
		"mark_tag", fmt.Sprintf("%#08x", o.tag))
	return o, nil
}

// checkForwarding refuses to run when the namespace does not forward:
// kernelized packets to remote peers would be dropped silently.
func (o *Offloader) checkForwarding() error {
	path := "/proc/sys/net/ipv4/ip_forward"
	if o.cfg.Family == IPv6 {
		path = "/proc/sys/net/ipv6/conf/all/forwarding"
	}
	var val []byte
	err := inNetNS(o.cfg.NetNS, func() error {
		var err error
		val, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return fmt.Errorf("kmod: read %s: %w: %w", path, ErrUnsupported, err)
	}
	if strings.TrimSpace(string(val)) != "1" {
		return fmt.Errorf("kmod: %s is 0: %w", path, ErrUnsupported)
	}
	return nil
}

// flushMarks deletes every conntrack entry carrying this table's tag.
func (o *Offloader) flushMarks() error {
	pf := netfilter.ProtoIPv4
	if o.cfg.Family == IPv6 {
		pf = netfilter.ProtoIPv6
	}
	f := conntrack.NewFilter().Family(pf).Mark(o.tag).MarkMask(markTagMask)
	if err := o.ct.FlushFilter(f); err != nil {
		return classify("kmod: flush conntrack entries of tag", err)
	}
	return nil
}

func (o *Offloader) deleteTable() error {
	o.nft.DelTable(o.rs.table)
	return o.nft.Flush()
}

func (o *Offloader) closeConns() {
	o.nft.CloseLasting()
	o.ct.Close()
	o.cr.Close()
	o.unlock()
}

func (o *Offloader) unlock() {
	if o.lock != nil {
		releaseLock(o.lock)
		o.lock = nil
	}
}

// Close removes the table and every conntrack entry of its marks; the
// relay's sockets receive all packets again.
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
	if err := o.flushMarks(); err != nil {
		errs = append(errs, err)
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
	id, err := o.allocID()
	if err != nil {
		return err
	}
	e := &entry{flow: f, id: id}
	o.queueElements(e, true)
	if err := o.nft.Flush(); err != nil {
		o.free = append(o.free, id)
		return fmt.Errorf("kmod: add flow %s: %w", f, err)
	}
	o.flows[f.Key()] = e
	o.locals[f.LocalA], o.locals[f.LocalB] = f.Key(), f.Key()
	// An entry created before the elements existed (tracked userspace
	// traffic, or from before the table) would keep bypassing the NAT
	// chains. Deleting after the add is race-free: the next packet creates
	// the entry through them. At worst a fresh NATed entry is recreated.
	o.deleteConntrack(f, true)
	o.log.Debug("flow offloaded", "flow", f.String(), "id", id)
	return nil
}

// Remove hands a flow back to userspace: its elements and its conntrack
// entry are deleted, so the next packet reaches the still-bound socket.
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
	f = normalize(f)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Stats{}, ErrClosed
	}
	e, ok := o.flows[f.Key()]
	if !ok {
		return Stats{}, fmt.Errorf("%w: %s", ErrNotFound, f)
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
	o.free = append(o.free, e.id)
	// The NAT binding lives in conntrack: without this the flow would keep
	// forwarding until the entry times out.
	o.deleteConntrack(e.flow, false)
	o.log.Debug("flow returned to userspace", "flow", e.flow.String(), "id", e.id)
	return nil
}

func (o *Offloader) allocID() (uint32, error) {
	if n := len(o.free); n > 0 {
		id := o.free[n-1]
		o.free = o.free[:n-1]
		return id, nil
	}
	if o.nextID > maxFlowID {
		return 0, ErrFull
	}
	id := o.nextID
	o.nextID++
	return id, nil
}

// queueElements adds or deletes, in the pending batch, the eight elements
// of a flow: two leg keys (with their counters), the same two keys mapping
// to marks, two DNAT and two SNAT targets.
func (o *Offloader) queueElements(e *entry, add bool) {
	s := o.spec
	f := e.flow
	la, pa, lb, pb := o.wire(f.LocalA), o.wire(f.PeerA), o.wire(f.LocalB), o.wire(f.PeerB)
	ma, mb := o.markA(e.id), o.markB(e.id)
	ka, kb := o.legKeys(f)
	leg := []nftables.SetElement{{Key: ka}, {Key: kb}}
	legMark := []nftables.SetElement{{Key: ka, Val: markBytes(ma)}, {Key: kb, Val: markBytes(mb)}}
	dst := []nftables.SetElement{{Key: markBytes(ma), Val: s.pair(pb)}, {Key: markBytes(mb), Val: s.pair(pa)}}
	src := []nftables.SetElement{{Key: markBytes(ma), Val: s.pair(lb)}, {Key: markBytes(mb), Val: s.pair(la)}}
	op := o.nft.SetAddElements
	if !add {
		op = o.nft.SetDeleteElements
	}
	// Errors here are marshalling errors of fixed-size keys; Flush reports
	// them too, so they are not lost.
	_ = op(o.rs.leg, leg)
	_ = op(o.rs.legMark, legMark)
	_ = op(o.rs.dst, dst)
	_ = op(o.rs.src, src)
}

// legKeys returns the flow's two leg keys, A's and B's: the packet keys of
// what each peer sends, which also carry the per-direction counters.
func (o *Offloader) legKeys(f Flow) (a, b []byte) {
	return o.spec.quad(o.wire(f.PeerA), o.wire(f.LocalA)), o.spec.quad(o.wire(f.PeerB), o.wire(f.LocalB))
}

// deleteConntrack deletes the flow's conntrack entry: a lookup by the
// A-side tuple finds the NATed entry whichever side sent first (it is either
// its original or its reply tuple). With bothSides it also deletes a
// separate un-NATed entry on the B side.
func (o *Offloader) deleteConntrack(f Flow, bothSides bool) {
	tuples := [][2]netip.AddrPort{{f.PeerA, f.LocalA}, {f.PeerB, f.LocalB}}
	if !bothSides {
		tuples = tuples[:1]
	}
	for _, t := range tuples {
		var ctf conntrack.Flow
		ctf.TupleOrig.IP.SourceAddress = t[0].Addr()
		ctf.TupleOrig.IP.DestinationAddress = t[1].Addr()
		ctf.TupleOrig.Proto.Protocol = unix.IPPROTO_UDP
		ctf.TupleOrig.Proto.SourcePort = t[0].Port()
		ctf.TupleOrig.Proto.DestinationPort = t[1].Port()
		if err := o.ct.Delete(ctf); err != nil && !errors.Is(err, unix.ENOENT) {
			o.log.Warn("delete conntrack entry", "flow", f.String(), "err", err)
		}
	}
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
	f = normalize(f)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Stats{}, ErrClosed
	}
	e, ok := o.flows[f.Key()]
	if !ok {
		return Stats{}, fmt.Errorf("%w: %s", ErrNotFound, f)
	}
	return o.stats(e)
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
	elems, err := o.nft.GetSetElements(o.rs.leg)
	if err != nil {
		return nil, fmt.Errorf("kmod: read counters: %w", err)
	}
	byKey := make(map[string]Counter, len(elems))
	for _, el := range elems {
		if el.Counter != nil {
			byKey[string(el.Key)] = Counter{Packets: el.Counter.Packets, Bytes: el.Counter.Bytes}
		}
	}
	out := make(map[FlowKey]Stats, len(o.flows))
	for k, e := range o.flows {
		ka, kb := o.legKeys(e.flow)
		out[k] = Stats{FromA: byKey[string(ka)], FromB: byKey[string(kb)]}
	}
	return out, nil
}
