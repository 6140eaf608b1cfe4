package call

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sipmedia/kmod"
	"sipmedia/mediad/internal/offload"
	"sipmedia/mediad/internal/relay"
)

// This file is the kernel fast path's policy (rtpengine's kernelize()): a
// stream pair goes to the kernel (package offload, kmod) only when both
// sides are plain RTP (no SRTP, no ICE, no DTLS, no transform in the relay),
// both may send, RTCP multiplexing agrees, and both peers are latched and
// confirmed by the relay's endpoint learning (3 s after the last signal
// with delayed learning, the first packet with immediate; never with
// learning off or asymmetric peers, whose source the kernel cannot match).
// It goes back to userspace when that stops being true: re-latching, a
// re-offer changing addresses, hold or one-way media, delete, timeout; a
// re-offer changing nothing keeps it. RTCP on its own port is a second flow.
// Decisions are taken right after signalling and on the registry tick for
// calls whose relays received packets (only those can have re-latched).
// Kernel counters are read in bulk on the tick (less often above 2000
// flows) and merged into the stream counters, the media timeout and the CLI
// totals; query and delete read their call's flows directly.
//
// The relay keeps its sockets, so packets the kernel does not match (a
// moved or stray source) still reach userspace and are handled there: the
// kernel rule rewrites only packets from the latched peer's exact address
// and port to the relay's, and the kernel path keeps no per-flow state
// (no conntrack) that such packets could disturb.

// kernelLink is the registry's connection to the kernel fast path.
type kernelLink struct {
	k   *offload.Kernel
	log *slog.Logger

	mu    sync.Mutex
	flows map[kmod.FlowKey]*kflow
	// done sums the final counters of flows handed back to userspace.
	done Counts

	total     atomic.Pointer[relay.TotalCounts] // since start
	rate      atomic.Pointer[relay.TotalCounts] // last tick, per second
	lastPoll  time.Time
	lastTotal relay.TotalCounts
	streams   atomic.Int64 // kernelized streams
	// closing: the daemon is stopping and the table goes as a whole, so
	// flows are not removed one by one.
	closing atomic.Bool
}

// kflow is one offloaded stream pair: a receives from PeerA on LocalA.
type kflow struct {
	link *kernelLink
	flow kmod.Flow
	a, b *Stream
	hdr  uint64 // IP+UDP header bytes per packet (kernel counts datagrams)
}

// kernelStream is a stream's kernel state (a field of Stream).
type kernelStream struct {
	flow    *kflow        // current flow; guarded by the call's mu
	failed  kmod.Flow     // last flow the kernel refused (not retried); call's mu
	seenIn  uint64        // relay packets received at the last evaluation; call's mu
	packets atomic.Uint64 // kernel-forwarded packets received on this stream
	bytes   atomic.Uint64
	lastNs  atomic.Int64 // when the kernel counters last rose (unix ns)
	base    Counts       // finished flows; guarded by the link's mu
}

// UseKernel offloads eligible streams to k (nil or disabled: userspace
// only). Call it before the first offer.
func (r *Registry) UseKernel(k *offload.Kernel) {
	if !k.Enabled() {
		return
	}
	l := &kernelLink{k: k, log: r.log.With("component", "kernel"), flows: make(map[kmod.FlowKey]*kflow)}
	l.total.Store(&relay.TotalCounts{})
	l.rate.Store(&relay.TotalCounts{})
	r.kernel = l
}

// KernelShutdown precedes Close at daemon exit: the kernel table is about
// to be removed whole, so the calls' flows are not handed back one by one
// (a netlink round trip each).
func (r *Registry) KernelShutdown() {
	if r.kernel != nil {
		r.kernel.closing.Store(true)
	}
}

// KernelTotals returns the packets forwarded by the kernel since start
// (rtpengine's "Total relayed packets (kernel)").
func (r *Registry) KernelTotals() relay.TotalCounts {
	if r.kernel == nil {
		return relay.TotalCounts{}
	}
	return *r.kernel.total.Load()
}

// KernelRates returns the kernel's packets per second over the last tick.
func (r *Registry) KernelRates() relay.TotalCounts {
	if r.kernel == nil {
		return relay.TotalCounts{}
	}
	return *r.kernel.rate.Load()
}

// KernelStreams is the number of streams currently forwarded by the kernel.
func (r *Registry) KernelStreams() int {
	if r.kernel == nil {
		return 0
	}
	return int(r.kernel.streams.Load())
}

// kernelPrepare marks a media socket for the kernel path (no-op without).
func (r *Registry) kernelPrepare(fd int) {
	if r.kernel == nil {
		return
	}
	if err := r.kernel.k.PrepareFD(fd); err != nil {
		r.kernel.log.Warn("marking media socket", "err", err)
	}
}

// kernelTick reads every flow's counters with one dump per family and
// re-evaluates every call (re-latching, confirmation).
func (r *Registry) kernelTick(now time.Time) {
	l := r.kernel
	if l == nil {
		return
	}
	if now.Sub(l.lastPoll) >= r.kernelPollEvery() {
		l.poll(now)
	}
	for _, c := range r.snapshot() {
		c.mu.Lock()
		if !c.gone && relayMoved(c) {
			r.kernelizeLocked(c)
		}
		c.mu.Unlock()
	}
}

// kernelPollEvery is how often the kernel counters are dumped: every tick
// up to 2000 flows, then less often (a dump of 10000 elements costs about
// 50 ms of CPU here), but at least four times per media timeout.
func (r *Registry) kernelPollEvery() time.Duration {
	r.kernel.mu.Lock()
	n := len(r.kernel.flows)
	r.kernel.mu.Unlock()
	d := time.Duration(n/2000) * time.Second
	if t := r.Limits().Timeout; t > 0 {
		d = min(d, t/4)
	}
	return min(d, 10*time.Second)
}

// relayMoved reports whether any of c's relays received packets since the
// last look. Between signals (which re-evaluate at once) a relay's learning
// state changes only when it receives a packet, so a call whose relays got
// nothing (fully kernelized, or silent) needs no new decision.
func relayMoved(c *Call) bool {
	moved := false
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			for _, s := range md.Streams {
				if s == nil || s.rs == nil {
					continue
				}
				if n := s.rs.Stats().In.Packets; n != s.kern.seenIn {
					s.kern.seenIn, moved = n, true
				}
			}
		}
	}
	return moved
}

func (l *kernelLink) poll(now time.Time) {
	all, err := l.k.AllCounters()
	if err != nil {
		l.log.Warn("reading kernel counters", "err", err)
		return
	}
	l.mu.Lock()
	tot := relay.TotalCounts{Packets: l.done.Packets, Bytes: l.done.Bytes}
	for key, kf := range l.flows {
		st, ok := all[key]
		if !ok {
			continue
		}
		kf.a.kern.set(st.FromA, kf.hdr, now)
		kf.b.kern.set(st.FromB, kf.hdr, now)
		tot.Packets += st.Total().Packets
		tot.Bytes += payload(st.Total(), kf.hdr)
	}
	l.mu.Unlock()
	if !l.lastPoll.IsZero() {
		if sec := now.Sub(l.lastPoll).Seconds(); sec > 0 {
			last := l.lastTotal
			l.rate.Store(&relay.TotalCounts{
				Packets: uint64(float64(tot.Packets-min(last.Packets, tot.Packets)) / sec),
				Bytes:   uint64(float64(tot.Bytes-min(last.Bytes, tot.Bytes)) / sec)})
		}
	}
	l.lastPoll, l.lastTotal = now, tot
	l.total.Store(&tot)
}

// kernelRefreshLocked reads the current counters of c's kernelized flows
// (one round trip each), so that query and delete report packets up to
// now rather than up to the last bulk read.
func (r *Registry) kernelRefreshLocked(c *Call) {
	l := r.kernel
	if l == nil || l.closing.Load() {
		return
	}
	now := time.Now()
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			for _, s := range md.Streams {
				if s == nil || s.kern.flow == nil || s.kern.flow.a != s {
					continue
				}
				kf := s.kern.flow
				st, err := l.k.Counters(kf.flow)
				if err != nil {
					continue
				}
				l.mu.Lock()
				kf.a.kern.set(st.FromA, kf.hdr, now)
				kf.b.kern.set(st.FromB, kf.hdr, now)
				l.mu.Unlock()
			}
		}
	}
}

// payload converts kernel byte counts (IP datagrams) to the UDP payload
// bytes userspace counts.
func payload(c kmod.Counter, hdr uint64) uint64 {
	return c.Bytes - min(c.Bytes, c.Packets*hdr)
}

// set publishes a live flow's counter on top of the finished flows'.
func (ks *kernelStream) set(c kmod.Counter, hdr uint64, now time.Time) {
	p := ks.base.Packets + c.Packets
	if p > ks.packets.Load() {
		ks.lastNs.Store(now.UnixNano())
	}
	ks.packets.Store(p)
	ks.bytes.Store(ks.base.Bytes + payload(c, hdr))
}

// addCounts adds the kernel's share to a stream's userspace counters.
func (ks *kernelStream) addCounts(c Counts) Counts {
	c.Packets += ks.packets.Load()
	c.Bytes += ks.bytes.Load()
	return c
}

// lastPacket is the later of the userspace and the kernel last packet.
func (ks *kernelStream) lastPacket(ns int64) int64 { return max(ns, ks.lastNs.Load()) }

// kernelFlags adds rtpengine's "kernelized" stream flag.
func (s *Stream) kernelFlags(flags []string) []string {
	if s.kern.flow != nil {
		return append(flags, "kernelized")
	}
	return flags
}

// plainRTP: nothing in this party's media needs userspace per packet.
func plainRTP(md *Media) bool {
	p := strings.ToUpper(md.Protocol)
	return (p == "RTP/AVP" || p == "RTP/AVPF") && !md.ICE && len(md.Crypto) == 0 && md.Fingerprint == ""
}

// wantFlow returns the flow stream k of the media pair ma<->mb should have
// in the kernel, and whether both peers are confirmed (needed to start;
// an existing identical flow stays).
func (r *Registry) wantFlow(ma, mb *Media, k int) (f kmod.Flow, ok, confirmed bool) {
	sa, sb := ma.Streams[k], mb.Streams[k]
	if sa == nil || sb == nil || sa.rs == nil || sb.rs == nil || ma.pair == nil || mb.pair == nil {
		return f, false, false
	}
	if !plainRTP(ma) || !plainRTP(mb) || ma.Mux != mb.Mux || (k == 1 && ma.Mux) {
		return f, false, false
	}
	if k == 0 && r.cfg.DTMFLog != nil && (ma.payloads.HasEvents() || mb.payloads.HasEvents()) {
		return f, false, false // the events must reach the relay to be logged
	}
	if k == 1 && (r.cfg.Homer != nil || r.cfg.RTCPLog != nil) {
		return f, false, false // RTCP must reach the relay to be reported or logged
	}
	fa, fb := sa.rs.Forwarding(), sb.rs.Forwarding()
	if fa == nil || fb == nil || fa.Transform != nil || fb.Transform != nil || fa.NoSend || fb.NoSend || fa.Block != nil || fb.Block != nil || fa.Record != nil || fb.Record != nil || fa.Inject != nil || fb.Inject != nil ||
		len(fa.Forks)+len(fb.Forks)+len(fa.RTCPForks)+len(fb.RTCPForks) > 0 ||
		fa.Asymmetric || fb.Asymmetric || !relay.Sendable(fa.Remote) || !relay.Sendable(fb.Remote) {
		return f, false, false
	}
	if k == 0 && (fa.Sink != sb.rs || fb.Sink != sa.rs) || k == 1 && (fa.RTCPSink != sb.rs || fb.RTCPSink != sa.rs) {
		return f, false, false
	}
	la, ca := sa.rs.Learned()
	lb, cb := sb.rs.Learned()
	pa, pb := sa.rs.Peer(), sb.rs.Peer()
	if !la.IsValid() || !lb.IsValid() || la != pa || lb != pb {
		return f, false, false
	}
	f = kmod.Flow{LocalA: sa.rs.Local(), PeerA: pa, LocalB: sb.rs.Local(), PeerB: pb}
	fam := f.LocalA.Addr().Unmap().Is4()
	for _, ap := range []netip.AddrPort{f.PeerA, f.LocalB, f.PeerB} {
		if ap.Addr().Unmap().Is4() != fam {
			return f, false, false
		}
	}
	if !r.kernel.k.Supports(f.LocalA.Addr()) {
		return f, false, false
	}
	return f, true, ca && cb
}

// kernelizeLocked brings c's streams in line with the policy: flows no
// longer wanted go back to userspace, confirmed new ones go to the kernel.
func (r *Registry) kernelizeLocked(c *Call) {
	l := r.kernel
	if l == nil {
		return
	}
	type want struct {
		a, b *Stream
		flow kmod.Flow
		conf bool
	}
	var wants []want
	wanted := make(map[*Stream]kmod.Flow)
	seen := make(map[*Monologue]bool)
	for _, m := range c.monologues { // creation order: a flow's sides are stable
		p := m.peer
		if p == nil || m.zombie || p.zombie || p.peer != m || seen[m] {
			continue
		}
		if c.tos != r.cfg.TOS {
			break // the kernel sets the daemon's TOS only: another stays in userspace
		}
		seen[m], seen[p] = true, true
		for i := range min(len(m.Medias), len(p.Medias)) {
			for k := range 2 {
				f, ok, conf := r.wantFlow(m.Medias[i], p.Medias[i], k)
				if !ok {
					continue
				}
				sa, sb := m.Medias[i].Streams[k], p.Medias[i].Streams[k]
				wants = append(wants, want{sa, sb, f, conf})
				wanted[sa], wanted[sb] = f, f
			}
		}
	}
	// Flows no longer wanted as they are go first, freeing their ports.
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			for _, s := range md.Streams {
				if s == nil || s.kern.flow == nil {
					continue
				}
				kf := s.kern.flow
				if f, ok := wanted[kf.a]; !ok || f != kf.flow || wanted[kf.b] != kf.flow {
					kf.remove("signalling or latching changed")
				}
			}
		}
	}
	for _, w := range wants {
		if w.a.kern.flow != nil || !w.conf || w.a.kern.failed == w.flow {
			continue
		}
		l.add(w.a, w.b, w.flow)
	}
}

func (l *kernelLink) add(a, b *Stream, f kmod.Flow) {
	if err := l.k.Add(f); err != nil {
		a.kern.failed, b.kern.failed = f, f
		l.log.Warn("stream stays in userspace", "flow", f.String(), "err", err)
		return
	}
	hdr := uint64(28)
	if !f.LocalA.Addr().Unmap().Is4() {
		hdr = 48
	}
	kf := &kflow{link: l, flow: f, a: a, b: b, hdr: hdr}
	l.mu.Lock()
	l.flows[f.Key()] = kf
	l.mu.Unlock()
	a.kern.flow, b.kern.flow = kf, kf
	a.kern.failed, b.kern.failed = kmod.Flow{}, kmod.Flow{}
	l.streams.Add(2)
	l.log.Debug("streams kernelized", "flow", f.String())
}

// remove hands the flow back to userspace, keeping its final counters on
// both streams. Called with the call's mu held.
func (kf *kflow) remove(why string) {
	l := kf.link
	var st kmod.Stats
	err := kmod.ErrClosed
	if !l.closing.Load() {
		st, err = l.k.RemoveStats(kf.flow)
	}
	if err != nil && !errors.Is(err, kmod.ErrClosed) {
		l.log.Warn("returning streams to userspace", "flow", kf.flow.String(), "err", err)
	}
	now := time.Now()
	l.mu.Lock()
	delete(l.flows, kf.flow.Key())
	for _, x := range []struct {
		s *Stream
		c kmod.Counter
	}{{kf.a, st.FromA}, {kf.b, st.FromB}} {
		ks := &x.s.kern
		if err == nil {
			ks.set(x.c, kf.hdr, now)
		}
		ks.base = Counts{Packets: ks.packets.Load(), Bytes: ks.bytes.Load()}
		ks.flow = nil
	}
	if err == nil {
		l.done.Packets += st.Total().Packets
		l.done.Bytes += payload(st.Total(), kf.hdr)
	}
	l.mu.Unlock()
	l.streams.Add(-2)
	l.log.Debug("streams back in userspace", "flow", kf.flow.String(), "why", why)
}

// unkernelize returns md's streams to userspace (before its sockets go).
func unkernelize(md *Media) {
	for _, s := range md.Streams {
		if s != nil && s.kern.flow != nil {
			s.kern.flow.remove("released")
		}
	}
}
