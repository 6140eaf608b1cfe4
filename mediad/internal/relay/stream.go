package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"sipmedia/mediad/internal/rawsys"
	rtcpkt "sipmedia/mediad/internal/rtcp"
)

// Component says which RTP component a stream's socket carries.
type Component uint8

const (
	// ComponentRTP is an RTP socket (which may also carry muxed RTCP).
	ComponentRTP Component = 1
	// ComponentRTCP is a separate RTCP socket.
	ComponentRTCP Component = 2
)

// Stream is one local UDP socket of a call and what flows through it. All
// methods are safe for concurrent use.
type Stream struct {
	eng    *Engine
	poller *poller
	slot   int32
	comp   Component
	local  netip.AddrPort
	v6     bool // socket family; an IPv4 peer is reached through a mapped address

	// fd is a duplicate of the socket handed to NewStream. ref counts packet
	// path users; the descriptor is closed when the stream is closed and the
	// last user is gone, so a descriptor number is never reused under a
	// sender that still holds it.
	fd       int
	ref      atomic.Int64
	fdClosed atomic.Bool
	fdDone   chan struct{} // closed once the descriptor is closed

	// st is the forwarding and learning state: replaced, never modified.
	// Signalling swaps it in SetForwarding; the read loop swaps it (CAS) when
	// it learns an address, which happens on a handful of packets only.
	st atomic.Pointer[learnState]

	in, out    counters
	lastPacket atomic.Int64 // unix nanoseconds; 0: never
	// parked: between two calls (see Park), what arrives is dropped
	// without counting.
	parked atomic.Bool
	// tos is the IP TOS last set on the socket (SetTOS); it stays with a
	// parked socket.
	tos atomic.Int32
	// dtmfTS is 1 + the RTP timestamp of the last DTMF event reported
	// (noteDTMF); 0: none.
	dtmfTS atomic.Uint64
	// byPT counts the RTP packets received per payload type (the CDR's
	// payload_type is the one with the most, as rtpengine's rtp_stats).
	byPT [128]atomic.Uint32
}

// learnState is the immutable per-stream snapshot the packet path works from.
type learnState struct {
	fwd         *Forwarding
	signalledNs int64          // fwd.Signalled in unix nanoseconds (0: window open)
	endpoint    netip.AddrPort // where sinks send to reach this stream's peer
	learned     netip.AddrPort // last source address learned from packets
	confirmed   bool           // learning finished
	detected    [4]netip.AddrPort
}

// dropAll is the state of a stream without forwarding, shared: states
// are never modified once stored (a change stores a new one), and every
// call's deletion stops four streams.
var dropAll = &learnState{}

const closedBit = int64(1) << 62

// Local is the stream's local socket address.
func (s *Stream) Local() netip.AddrPort { return s.local }

// Component reports whether this is an RTP or an RTCP socket.
func (s *Stream) Component() Component { return s.comp }

// SetForwarding installs a new forwarding snapshot (nil: drop everything).
// Learning restarts: the stream keeps its learned peer if the signalled
// address did not change and otherwise falls back to the new address, as
// rtpengine does on a re-INVITE.
func (s *Stream) SetForwarding(f *Forwarding) {
	if f == nil {
		s.st.Store(dropAll)
		return
	}
	ns := &learnState{fwd: f}
	ns.endpoint = unmapAP(f.Remote)
	if !f.Signalled.IsZero() {
		ns.signalledNs = f.Signalled.UnixNano()
	}
	ns.confirmed = f.Learning == LearnOff
	if old := s.st.Load(); old != nil && old.fwd != nil && f.Learning != LearnOff &&
		unmapAP(old.fwd.Remote) == ns.endpoint && old.learned.IsValid() {
		if !f.Asymmetric {
			ns.endpoint = old.endpoint
		}
		ns.learned = old.learned
	}
	s.st.Store(ns)
}

// SetBlock replaces the Block of the installed forwarding and keeps
// everything learned: a block command is no new negotiation.
func (s *Stream) SetBlock(b *Block) {
	s.amend(func(f *Forwarding) bool {
		if f.Block == b {
			return false
		}
		f.Block = b
		return true
	})
}

// SetRecorder replaces the Recorder of the installed forwarding (nil:
// recording ends) and keeps everything learned.
func (s *Stream) SetRecorder(r Recorder) {
	s.amend(func(f *Forwarding) bool {
		if f.Record == r {
			return false
		}
		f.Record = r
		return true
	})
}

// amend installs a changed copy of the forwarding, keeping the learning
// state; change reports whether it changed anything.
func (s *Stream) amend(change func(f *Forwarding) bool) {
	for {
		old := s.st.Load()
		if old == nil || old.fwd == nil {
			return
		}
		f := *old.fwd
		if !change(&f) {
			return
		}
		ns := *old
		ns.fwd = &f
		if s.st.CompareAndSwap(old, &ns) {
			return
		}
	}
}

// Forwarding returns the snapshot last installed (nil if none).
func (s *Stream) Forwarding() *Forwarding {
	if st := s.st.Load(); st != nil {
		return st.fwd
	}
	return nil
}

// Peer is where packets for this stream's peer are sent: the learned source,
// or the signalled address. Invalid if neither is known.
func (s *Stream) Peer() netip.AddrPort {
	if st := s.st.Load(); st != nil {
		return st.endpoint
	}
	return netip.AddrPort{}
}

// Learned is the last source address learned from packets (invalid if none)
// and whether learning has been confirmed.
func (s *Stream) Learned() (netip.AddrPort, bool) {
	if st := s.st.Load(); st != nil {
		return st.learned, st.confirmed
	}
	return netip.AddrPort{}, false
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	st := StreamStats{In: s.in.load(), Out: s.out.load()}
	if ns := s.lastPacket.Load(); ns != 0 {
		st.LastPacket = time.Unix(0, ns)
	}
	return st
}

// Close stops reading from the socket and releases it: when it returns,
// the port can be bound again. Idempotent.
func (s *Stream) Close() error {
	s.eng.removeStream(s)
	select {
	case <-s.fdDone:
		return nil // the usual case: no read loop held it, no timer needed
	default:
	}
	// A read loop may hold the descriptor for the rest of its round
	// (microseconds); wait for it, but never forever (Close called from
	// inside a round, e.g. by a Transform, must not deadlock).
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-s.fdDone:
	case <-t.C:
	}
	return nil
}

// Park detaches the stream from its call while its socket stays bound and
// read: what arrives is dropped uncounted until Reuse. The socket's owner
// (package ports) keeps parked streams warm for the next call on the same
// port, which spares the system calls of closing, creating, binding and
// registering a socket.
func (s *Stream) Park() {
	s.parked.Store(true)
	s.st.Store(nil)
}

// Reuse readies a parked stream for a new call: no forwarding, no learned
// address, counters and last-packet time from zero.
func (s *Stream) Reuse() {
	s.st.Store(nil)
	s.in.reset()
	s.out.reset()
	s.lastPacket.Store(0)
	s.dtmfTS.Store(0)
	for i := range s.byPT {
		s.byPT[i].Store(0)
	}
	s.parked.Store(false)
}

func (s *Stream) acquire() bool {
	if s.ref.Add(1)&closedBit != 0 {
		s.release()
		return false
	}
	return true
}

func (s *Stream) release() {
	if s.ref.Add(-1) == closedBit {
		s.closeFD()
	}
}

// markClosed makes every later acquire fail and closes the descriptor once
// no packet path user holds it. It reports false if already closed.
func (s *Stream) markClosed() bool {
	for {
		v := s.ref.Load()
		if v&closedBit != 0 {
			return false
		}
		if s.ref.CompareAndSwap(v, v|closedBit) {
			if v == 0 {
				s.closeFD()
			}
			return true
		}
	}
}

func (s *Stream) closeFD() {
	if s.fdClosed.CompareAndSwap(false, true) {
		closeFD(s.fd)
		close(s.fdDone)
	}
}

// handle runs the packet path for one datagram received on s from src.
func (s *Stream) handle(p *poller, pkt []byte, src netip.AddrPort, now int64) {
	sh := p.shard
	st := s.st.Load()
	if st == nil || st.fwd == nil {
		// Not (or no longer) signalled: nothing to do with it.
		if s.parked.Load() {
			return // a late packet of the last call
		}
		s.in.errors.Add(1)
		sh.errors.Add(1)
		return
	}
	f := st.fwd
	if f.LoopProtect && s.eng.isLocal(src) {
		s.in.errors.Add(1)
		sh.errors.Add(1)
		return
	}
	if f.Transform != nil {
		out, fwd := f.Transform.Inbound(pkt[:cap(pkt)], len(pkt), src)
		if !fwd {
			return
		}
		pkt = out
	}
	if f.Record != nil {
		f.Record.Packet(src, s.local, pkt, now)
	}
	rtcp := s.comp == ComponentRTCP || (f.DemuxRTCP && isRTCP(pkt))
	if s.checkAddress(st, pkt, src, now) {
		s.in.errors.Add(1)
		sh.errors.Add(1)
		return
	}
	n := uint64(len(pkt))
	s.in.packets.Add(1)
	s.in.bytes.Add(n)
	s.lastPacket.Store(now)
	sh.packets.Add(1)
	sh.bytes.Add(n)

	if !rtcp && len(pkt) >= 12 {
		pt := pkt[1] & 0x7f
		s.byPT[pt].Add(1)
		if !f.KnownPT.Empty() && !f.KnownPT.Has(pt) {
			// rtpengine: "RTP packet with unknown payload type"
			s.in.errors.Add(1)
			sh.errors.Add(1)
		}
		if f.DTMF != nil {
			s.noteDTMF(f.DTMF, pkt, src)
		}
	}
	if rtcp {
		if f.RTCPReport != nil {
			f.RTCPReport.RTCP(src, s.local, pkt, now)
		}
		if !rtcpkt.Valid(pkt) {
			// rtpengine's userspace drops what its RTCP parser fails
			// on, as an error of the stream (media_socket.c).
			s.in.errors.Add(1)
			sh.errors.Add(1)
			return
		}
	}
	if forks := f.Forks; len(forks) > 0 || len(f.RTCPForks) > 0 {
		if rtcp {
			forks = f.RTCPForks
		}
		// Before the sink: its send may queue pkt on the ring, and its
		// transform may encrypt into p.out.
		s.sendForks(p, forks, pkt)
	}
	sink := f.Sink
	if rtcp {
		sink = f.RTCPSink
	} else if f.NoSend {
		return // hold: counted, not forwarded
	} else if f.Block != nil && f.Block.drop(pkt) {
		return // blocked: counted, not forwarded
	} else if f.Inject != nil && f.Inject.busy.Load() {
		pkt = f.Inject.apply(pkt)
	}
	if sink == nil {
		return
	}
	sst := sink.st.Load()
	if sst == nil || sst.fwd == nil {
		return
	}
	if sst.fwd.NATWait && sink.in.packets.Load() == 0 {
		return // the sink's peer has not been heard from yet
	}
	pkt, dst, err := sink.toPeer(sst, pkt, p.out[:0])
	if err == nil && dst.IsValid() {
		err = p.send(sink, pkt, dst, sst.fwd.Transform == nil)
		if err == errQueued {
			return
		}
	}
	sink.countOut(pkt, err, sh)
}

// sendForks sends a copy of plain packet pkt to each fork's peer, at
// once (not queued: the sink's send may reuse the buffer).
func (s *Stream) sendForks(p *poller, forks []*Stream, pkt []byte) {
	for _, fk := range forks {
		fst := fk.st.Load()
		if fst == nil || fst.fwd == nil {
			continue
		}
		out, dst, err := fk.toPeer(fst, pkt, p.out[:0])
		if err == nil && dst.IsValid() {
			err = p.send(fk, out, dst, false)
		}
		fk.countOut(out, err, p.shard)
	}
}

// errNoPeer: the stream's peer has no address to send to (yet), or is
// on hold with c=0.0.0.0.
var errNoPeer = errors.New("relay: no peer address")

// toPeer readies plain packet pkt for s's peer, as sst (s's state) says:
// through its Transform into scratch (SRTP), to the address the
// transform selected or the learned or signalled one. A zero dst means
// sent already (the transform writes itself) or nothing to send to
// (err errNoPeer).
func (s *Stream) toPeer(sst *learnState, pkt, scratch []byte) (out []byte, dst netip.AddrPort, err error) {
	dst = sst.endpoint
	t := sst.fwd.Transform
	if t == nil {
		if !Sendable(sst.fwd.Remote) && !sst.fwd.SendLearned || !dst.IsValid() {
			return pkt, netip.AddrPort{}, errNoPeer
		}
		return pkt, dst, nil
	}
	if a, ok := t.Peer(); ok {
		dst = a
	}
	if pkt, err = t.Outbound(scratch, pkt); err != nil {
		return nil, netip.AddrPort{}, err
	}
	if pw, ok := t.(peerWriter); ok {
		// The transform sends itself, from the local socket its peer
		// uses (ICE with several addresses) or not at all (no consent).
		if handled, err := pw.WritePeer(pkt); handled {
			return pkt, netip.AddrPort{}, err
		}
	}
	if !Sendable(sst.fwd.Remote) && !sst.fwd.SendLearned || !dst.IsValid() {
		return pkt, netip.AddrPort{}, errNoPeer
	}
	return pkt, dst, nil
}

// countOut counts a packet sent toward s's peer, or the error sending it
// (nothing for errNoPeer, which is no failure); sh is the read loop's
// shard, nil outside one.
func (s *Stream) countOut(pkt []byte, err error, sh *totalsShard) {
	switch {
	case err == nil:
		s.out.packets.Add(1)
		s.out.bytes.Add(uint64(len(pkt)))
	case err != errNoPeer:
		s.out.errors.Add(1)
		if sh != nil {
			sh.errors.Add(1)
		}
	}
}

// SendOwn sends an RTP packet of the daemon's own (a media player's) to
// the stream's peer, as forwarded packets go there: through its
// Transform and to the address that selects, else to the learned or
// signalled address. scratch is for the transform, of MaxOverhead more
// capacity than pkt. Nothing goes out while the peer has no address.
func (s *Stream) SendOwn(pkt, scratch []byte) error {
	if !s.acquire() {
		return ErrClosed
	}
	defer s.release()
	st := s.st.Load()
	if st == nil || st.fwd == nil {
		return errNoPeer
	}
	out, dst, err := s.toPeer(st, pkt, scratch)
	if err == nil && dst.IsValid() {
		err = sendto(s.fd, s.v6, out, dst)
	}
	s.countOut(out, err, nil)
	if err == errNoPeer {
		return nil
	}
	return err
}

// WriteToUDPAddrPort sends b from the stream's socket (for ICE and DTLS
// traffic of a Transform; media goes through the read loops). It never
// blocks: a full socket buffer is an error.
func (s *Stream) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !s.acquire() {
		return 0, ErrClosed
	}
	defer s.release()
	if err := sendto(s.fd, s.v6, b, addr); err != nil {
		return 0, err
	}
	return len(b), nil
}

// checkAddress is rtpengine's media_packet_address_check: it learns the
// peer's address from src and reports whether the packet must be dropped
// (strict-source).
func (s *Stream) checkAddress(st *learnState, pkt []byte, src netip.AddrPort, now int64) (drop bool) {
	f := st.fwd
	if st.confirmed {
		if !f.StrictSource && !f.MediaHandover {
			return false
		}
		cmp := st.endpoint
		if f.Asymmetric {
			cmp = st.learned
		}
		if src == cmp || src == st.learned {
			return false
		}
		if f.MediaHandover {
			// Follow the new source and learn again from it.
			ns := *st
			if f.Asymmetric {
				ns.learned = src
			} else {
				ns.endpoint, ns.learned = src, src
			}
			ns.confirmed = false
			s.swap(st, ns)
			return false
		}
		return true // strict source
	}

	// GH #697 in rtpengine: stray RTCP on the RTP port does not count for
	// learning (APP packets excepted).
	if s.comp == ComponentRTP && isRTCP(pkt) && pkt[1] != rtcpAPP {
		return false
	}

	ns := *st
	use := src
	wait := st.signalledNs == 0 || now <= st.signalledNs+int64(LearnWindow)
	confirm := f.Learning == LearnImmediate
	if f.Learning == LearnHeuristic && f.Remote.Port() != 0 && f.Remote.Addr().IsValid() {
		idx := 0
		if src.Port() != f.Remote.Port() {
			idx |= 1
		}
		if src.Addr() != unmap(f.Remote.Addr()) {
			idx |= 2
		}
		ns.detected[idx] = src
		best := 0
		for best < 3 && !ns.detected[best].IsValid() {
			best++
		}
		use = ns.detected[best]
		if idx == 0 {
			confirm = true
		} else if f.StrictSource && best < idx {
			if ns != *st {
				s.swap(st, ns)
			}
			return true
		}
	}
	if !wait {
		confirm = true
	}
	if confirm {
		ns.confirmed = true
	}
	if !wait || !st.learned.IsValid() || use != st.learned {
		if !f.Asymmetric {
			ns.endpoint = use
		}
		ns.learned = use
	}
	if ns != *st {
		s.swap(st, ns)
	}
	return false
}

// swap installs a learning update unless signalling replaced the state in
// the meantime (then the update belongs to an old negotiation and is lost).
// Taking ns by value keeps the unchanged case free of allocations.
func (s *Stream) swap(old *learnState, ns learnState) {
	n := new(learnState)
	*n = ns
	s.st.CompareAndSwap(old, n)
}

const rtcpAPP = 204

// peerWriter is implemented by Transforms that send toward their peer
// themselves (package webrtc's Endpoint): handled=false leaves the send
// to the relay.
type peerWriter interface {
	WritePeer(b []byte) (handled bool, err error)
}

// isRTCP tells RTCP from RTP on a multiplexed port by the second byte
// (RFC 5761 section 4: RTCP packet types 192-223).
func isRTCP(pkt []byte) bool {
	return len(pkt) >= 8 && pkt[1] >= 192 && pkt[1] <= 223
}

func unmap(a netip.Addr) netip.Addr { return a.Unmap() }

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	if !ap.IsValid() {
		return ap
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// SetTOS sets the IP TOS (IPv6: traffic class) of what the stream's
// socket sends, if it differs from what was set last: the default 0
// costs no system call.
func (s *Stream) SetTOS(tos int) error {
	if int(s.tos.Load()) == tos {
		return nil
	}
	if !s.acquire() {
		return nil // closed: nothing will be sent
	}
	defer s.release()
	if err := rawsys.SetTOS(s.fd, s.v6, tos); err != nil {
		return fmt.Errorf("TOS %d on %s: %w", tos, s.local, err)
	}
	s.tos.Store(int32(tos))
	return nil
}
