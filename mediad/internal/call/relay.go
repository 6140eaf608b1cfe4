package call

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"sipmedia/mediad/internal/homer"
	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/rtcp"
)

// This file is the seam between the call model and the packet relay
// (package relay): it starts a relay.Stream on a stream's socket when the
// stream is first given forwarding, keeps the relay's forwarding snapshots
// in step with signalling, stops relaying before the sockets are released,
// and reads the relay's counters for statistics and the media timeout.
// Without UseRelay the registry does signalling only.

// relayLink is the registry's connection to the media plane.
type relayLink struct {
	eng      *relay.Engine
	learning relay.Learning
}

// UseRelay makes the registry forward media through e (rtpengine's
// userspace forwarding). Call it before the first offer.
func (r *Registry) UseRelay(e *relay.Engine) error {
	l, err := relay.ParseLearning(r.cfg.EndpointLearning)
	if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	r.relay = &relayLink{eng: e, learning: l}
	return nil
}

// RelayTotals returns the relay's engine-wide counters (zero without one):
// rtpengine's "Total relayed packets/bytes/packet errors (userspace)".
func (r *Registry) RelayTotals() relay.TotalCounts {
	if r.relay == nil {
		return relay.TotalCounts{}
	}
	return r.relay.eng.Totals()
}

// RelayRates returns the relay's traffic in the last full second (zero
// without one): rtpengine's "Packets/Bytes/Errors per second (userspace)".
func (r *Registry) RelayRates() relay.TotalCounts {
	if r.relay == nil {
		return relay.TotalCounts{}
	}
	return r.relay.eng.Rates()
}

// updateRelay publishes the relay snapshots of both parties after
// signalling between a and b (after updateForwarding).
func (r *Registry) updateRelay(c *Call, a, b *Monologue) {
	if r.relay == nil {
		return
	}
	for i := range min(len(a.Medias), len(b.Medias)) {
		ma, mb := a.Medias[i], b.Medias[i]
		r.syncEndpoints(a, ma)
		r.syncEndpoints(b, mb)
		r.relayMedia(c, a, ma, mb)
		r.relayMedia(c, b, mb, ma)
	}
	r.kernelizeLocked(c)
}

// relayMedia sets the snapshots of a's two streams (a is party's media):
// what a sends goes out of b's sockets to b.
func (r *Registry) relayMedia(c *Call, party *Monologue, a, b *Media) {
	if a == nil || b == nil {
		return
	}
	// RTCP toward b goes to b's RTP port when b multiplexes.
	bRTCP := r.relayStream(b.Streams[1])
	if b.Mux || bRTCP == nil {
		bRTCP = r.relayStream(b.Streams[0])
	}
	// Both of a's streams share these.
	rtcpHook, known := r.rtcpHook(c, party, a), knownPTs(a)
	for k, s := range a.Streams {
		rs := r.relayStream(s)
		if rs == nil {
			continue
		}
		if err := rs.SetTOS(c.tos); err != nil {
			r.log.Warn("setting TOS", "call-id", c.ID, "local", rs.Local(), "err", err)
		}
		f := &relay.Forwarding{
			Remote:        s.Endpoint,
			RTCPSink:      bRTCP,
			Learning:      r.relay.learning,
			Signalled:     c.lastSignal,
			Asymmetric:    a.Asymmetric,
			StrictSource:  a.StrictSource,
			MediaHandover: a.MediaHandover,
			NATWait:       a.NATWait,
			LoopProtect:   true,
			Record:        c.recorder(),
			RTCPReport:    rtcpHook,
			KnownPT:       known,
		}
		if ep := a.secState.eps[k]; ep != nil {
			f.Transform = ep // ICE/DTLS/SRTP toward a's party (endpoints.go)
		}
		if a.Passthru && !relay.Sendable(s.Endpoint) {
			// ICE passthrough toward a party that gave no address: send
			// where its checks come from.
			f.Remote, f.SendLearned = netip.AddrPort{}, true
		}
		if k == 0 {
			f.Forks = r.forks(party, a, 0)
		}
		// RTCP on the RTP socket (rtcp-mux) or on its own.
		f.RTCPForks = r.forks(party, a, 1)
		if k == 0 {
			f.Sink = r.relayStream(b.Streams[0])
			f.DemuxRTCP = true
			// rtpengine's blackhole: RTP from a party we must not
			// receive from (recvonly, inactive) is counted, not sent.
			f.NoSend = !a.FlagRecv
			f.Block = c.blockingOf(party).relay(a, b)
			f.DTMF = r.dtmfLog(c, party, a, b)
			f.Inject = injector(party, a, b)
		}
		rs.SetForwarding(f)
		r.pierceNAT(a, rs)
	}
}

// relayStream returns the relay on s's socket, starting it on first use
// (when the stream's local address is settled). Nil without sockets.
func (r *Registry) relayStream(s *Stream) *relay.Stream {
	if s == nil || s.Pair == nil {
		return nil
	}
	if s.rs != nil && s.rs.Local().Addr() == s.LocalAddr.Unmap() {
		return s.rs
	}
	comp := relay.ComponentRTP
	if s.RTCP {
		comp = relay.ComponentRTCP
	}
	if h, ok := s.Pair.Unpark(s.LocalAddr, s.RTCP); ok {
		// A warm socket from an ended call (endRelay).
		if rs, ok := h.(*relay.Stream); ok && rs.Local().Addr() == s.LocalAddr.Unmap() {
			rs.Reuse()
			if s.rs != nil {
				s.rs.Close()
			}
			s.rs = rs
			return rs
		}
		_ = h.Close()
	}
	fd, ok := s.Pair.Take(s.LocalAddr, s.RTCP)
	if !ok {
		return s.rs
	}
	r.kernelPrepare(fd) // before NewStreamFD, which takes the descriptor over
	rs, err := r.relay.eng.NewStreamFD(fd, netip.AddrPortFrom(s.LocalAddr, uint16(s.LocalPort)), comp)
	if err != nil {
		r.log.Error("relay stream", "local", s.LocalAddr, "port", s.LocalPort, "err", err)
		return s.rs
	}
	if s.rs != nil {
		s.rs.Close() // the local address moved to another family
	}
	s.rs = rs
	return rs
}

// stopRelay stops relaying on md's sockets; call before releasing its
// port pair. The final counters stay on the streams.
func stopRelay(md *Media) { endRelay(md, false) }

// endRelay is stopRelay; with park (the call's streams parked by
// parkCall), each relay stream goes back to its pair (ports.Pair.Park)
// with its socket still bound and registered, for the pair's next user
// (relayStream). It reports whether every stream was parked; one that
// could not be is closed.
func endRelay(md *Media, park bool) bool {
	stopPlayer(md) // it sends from md's socket
	md.secState.closeEndpoints()
	unkernelize(md)
	parked := park
	for _, s := range md.Streams {
		if s == nil || s.rs == nil {
			continue
		}
		if park {
			s.saveStats() // before the pair can hand the stream to another call
			if md.pair.Park(s.rs.Local().Addr(), s.RTCP, s.rs) {
				s.rs = nil
				continue
			}
			parked = false
		}
		s.rs.Close()
		s.saveStats()
		s.rs = nil
	}
	return parked
}

// parkCall parks every relay stream of a call that is going as a whole,
// so that none forwards into another any more, and reports whether the
// call's sockets may go back to the allocator warm: only with plain
// streams (no ICE, DTLS or SRTP endpoint, which could still write through
// a stream after it went to another call).
func (r *Registry) parkCall(c *Call) bool {
	if r.relay == nil {
		return false
	}
	plain := true
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			if md == nil {
				continue
			}
			for _, ep := range md.secState.eps {
				if ep != nil {
					plain = false
				}
			}
			for _, s := range md.Streams {
				if s != nil && s.rs != nil {
					s.rs.Park()
				}
			}
		}
	}
	return plain
}

// saveStats copies the relay's final counters to the stream.
func (s *Stream) saveStats() {
	st := s.rs.Stats()
	s.Packets.Store(st.In.Packets)
	s.Bytes.Store(st.In.Bytes)
	s.Errors.Store(st.In.Errors)
	if !st.LastPacket.IsZero() {
		s.LastPacket.Store(st.LastPacket.UnixNano())
	}
}

// counts returns the stream's ingress counters (the relay's while it runs).
func (s *Stream) counts() Counts {
	if s.rs != nil {
		in := s.rs.Stats().In
		return s.kern.addCounts(Counts{Packets: in.Packets, Bytes: in.Bytes, Errors: in.Errors})
	}
	return s.kern.addCounts(Counts{Packets: s.Packets.Load(), Bytes: s.Bytes.Load(), Errors: s.Errors.Load()})
}

// lastPacketNs is when the stream last received a packet, in unix
// nanoseconds (0: never).
func (s *Stream) lastPacketNs() int64 {
	if s.rs != nil {
		if t := s.rs.Stats().LastPacket; !t.IsZero() {
			return s.kern.lastPacket(t.UnixNano())
		}
		return s.kern.lastPacket(0)
	}
	return s.kern.lastPacket(s.LastPacket.Load())
}

// confirmed reports whether the relay has settled where this stream's
// party sends from (rtpengine's "confirmed"): it received from the party
// and endpoint learning finished.
func (s *Stream) confirmed() bool {
	if s.rs == nil || s.rs.Stats().LastPacket.IsZero() {
		return false
	}
	_, ok := s.rs.Learned()
	return ok
}

// knownPTs are the payload types party media md declared in its m=
// line, for the relay's unknown payload type count (empty for media that
// are not RTP).
func knownPTs(md *Media) relay.PTSet {
	var set relay.PTSet
	if !isRTP(md.Protocol) {
		return set
	}
	for _, f := range md.Formats {
		if pt, err := strconv.ParseUint(f, 10, 7); err == nil {
			set.Add(uint8(pt))
		}
	}
	return set
}

// rtcpHooksOf is c's RTCP hook for Homer and the RTCP log, or nil
// without --homer and --log-facility-rtcp.
func (r *Registry) rtcpHooksOf(c *Call) *rtcpHooks {
	if r.cfg.Homer == nil && r.cfg.RTCPLog == nil {
		return nil
	}
	if c.rtcpHooks == nil {
		c.rtcpHooks = &rtcpHooks{callID: c.ID, log: r.cfg.RTCPLog}
		if r.cfg.Homer != nil {
			c.rtcpHooks.homer = &homer.Reporter{S: r.cfg.Homer, CallID: c.ID}
		}
	}
	return c.rtcpHooks
}

// rtcpHooks takes a call's RTCP packets (decrypted) to Homer and to the
// RTCP log.
type rtcpHooks struct {
	callID string
	homer  *homer.Reporter // nil without --homer
	log    io.Writer       // nil without --log-facility-rtcp
}

// RTCP implements relay.RTCPReporter.
func (h *rtcpHooks) RTCP(src, dst netip.AddrPort, pkt []byte, now int64) {
	if h.homer != nil {
		h.homer.RTCP(src, dst, pkt, now)
	}
	if h.log != nil {
		if line, ok := rtcp.LogLine(h.callID, pkt); ok {
			_, _ = h.log.Write(line)
		}
	}
}
