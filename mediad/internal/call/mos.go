package call

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/rtcp"
)

// Call quality from RTCP, as rtpengine 10.5's ssrc.c computes it: the
// round-trip time of each leg from a sender report and the receiver
// report that answers it (or XR RR time and DLRR), and per receiver
// report a stats block of jitter, loss, the two legs' round trip and a
// MOS, kept under the reporting party's SSRC. The query's "SSRC"
// dictionary shows them; the CLI's totals sum the MOS values.

// MOS modes (--mos).
const (
	MOSCQ = "CQ" // conversational quality: needs both legs' round trip
	MOSLQ = "LQ" // listening quality
)

// timeItem is when a report with an NTP timestamp arrived.
type timeItem struct {
	received  time.Time
	ntpMiddle uint32 // the middle 32 bits, as LSR/LRR quote them
}

// mosBlock is one receiver report's figures (rtpengine's
// ssrc_stats_block): MOS times 10 (0: none), round trips in
// microseconds, jitter in milliseconds, loss in percent.
type mosBlock struct {
	mos, rtt, rttLeg, jitter, loss int64
	reported                       time.Time
}

// ssrcStats is what a party's SSRC table holds for one SSRC (rtpengine's
// ssrc_entry_call, the parts the MOS needs).
type ssrcStats struct {
	srs, rrTimes    []timeItem // the sender's last 10 SRs / XR RR times
	lastRTT         int64      // this leg's round trip (µs), from the peer's last report about it
	lastRTTXR       uint16     // round trip from an XR VoIP metrics block (ms)
	lost            uint32     // cumulative loss the SSRC reported
	blocks          []mosBlock // reports from this SSRC
	lowest, highest int        // indexes into blocks; -1: none
	sum             mosBlock   // totals of the blocks with a MOS
	noMOS           int        // blocks without a MOS
}

// ssrcOf returns party m's entry for ssrc, created on first use
// (c.ssrcMu held).
func (m *Monologue) ssrcOf(ssrc uint32) *ssrcStats {
	if m.ssrc == nil {
		m.ssrc = make(map[uint32]*ssrcStats)
	}
	e := m.ssrc[ssrc]
	if e == nil {
		e = &ssrcStats{lowest: -1, highest: -1}
		m.ssrc[ssrc] = e
	}
	return e
}

// pushTime appends t, keeping the last 10 (rtpengine's queues).
func pushTime(q []timeItem, t timeItem) []timeItem {
	if len(q) >= 10 {
		q = append(q[:0], q[1:]...)
	}
	return append(q, t)
}

// mosCalc is rtpengine's mos_calc: the E-model simplification of
// PingPlotter, MOS times 10. In CQ mode a block without a round trip
// gets none; LQ mode computes one regardless (and, as in rtpengine,
// still counts the round trip it has).
func mosCalc(b *mosBlock, mode string) {
	if mode != MOSLQ && b.rtt == 0 {
		return
	}
	effRTT := b.rtt/1000 + b.jitter*2 + 10
	var r float64
	if effRTT < 160 {
		r = 93.2 - float64(effRTT)/40.0
	} else {
		r = 93.2 - float64(effRTT-120)/10.0
	}
	r -= float64(b.loss) * 2.5
	mos := int64(10)
	if r >= 0 {
		mos = int64((1.0 + 0.035*r + 0.000007*r*(r-60)*(100-r)) * 10.0)
	}
	if mos < 10 {
		mos = 0
	}
	b.mos = mos
}

// mosView is what the quality figures need of a party's media, taken
// under the call's lock whenever signalling changes it: the relay's
// goroutines read it without that lock.
type mosView struct {
	party   *Monologue      // its SSRC table (Call.ssrcMu)
	peers   []*Monologue    // the parties it receives from (their tables too)
	peerRTP []*relay.Stream // the peers' RTP streams of this media: what they send it
	known   relay.PTSet     // the party's payload types
	clocks  relay.Payloads  // and their clock rates
}

// rtcpQuality feeds the RTCP a party sends into the call's SSRC tables,
// as rtpengine's mos handlers (rtcp.c) do.
type rtcpQuality struct {
	rtcp.Nop
	r    *Registry
	v    *mosView
	now  time.Time
	from uint32 // the packet's sender SSRC
}

func (q *rtcpQuality) Common(h rtcp.Header) { q.from = h.SSRC }

func (q *rtcpQuality) SR(s rtcp.SenderInfo) {
	e := q.v.party.ssrcOf(q.from)
	e.srs = pushTime(e.srs, timeItem{received: q.now, ntpMiddle: s.NTPSec<<16 | s.NTPFrac>>16})
}

func (q *rtcpQuality) RR(b rtcp.ReportBlock) { q.r.receiverReport(q, b) }

func (q *rtcpQuality) XRRRTime(b []byte) {
	e := q.v.party.ssrcOf(q.from)
	e.rrTimes = pushTime(e.rrTimes, timeItem{received: q.now,
		ntpMiddle: binary.BigEndian.Uint32(b[4:])<<16 | binary.BigEndian.Uint32(b[8:])>>16})
}

func (q *rtcpQuality) XRDLRR(b []byte) {
	ssrc, lrr, dlrr := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])
	q.roundTrip(ssrc, lrr, dlrr, func(e *ssrcStats) []timeItem { return e.rrTimes })
}

func (q *rtcpQuality) XRVoIPMetrics(b []byte) {
	q.v.party.ssrcOf(binary.BigEndian.Uint32(b[4:])).lastRTTXR = binary.BigEndian.Uint16(b[16:])
}

// roundTrip is rtpengine's __calc_rtt: the report about ssrc quotes the
// NTP time of one of its sender's reports (middle) and the delay since
// (1/65536 s); the time since that report arrived, less the delay, is
// this leg's round trip, in microseconds (0: unknown or implausible). It
// is kept with the sender's entry.
func (q *rtcpQuality) roundTrip(ssrc, middle, delay uint32, reports func(*ssrcStats) []timeItem) int64 {
	if middle == 0 || delay == 0 {
		return 0
	}
	for _, peer := range q.v.peers {
		e := peer.ssrc[ssrc]
		if e == nil {
			continue
		}
		items := reports(e)
		for i := len(items) - 1; i >= 0; i-- {
			if items[i].ntpMiddle != middle {
				continue
			}
			rtt := q.now.Sub(items[i].received).Microseconds() - int64(delay)*1000000/65536
			if rtt <= 0 || rtt > 10000000 {
				return 0
			}
			e.lastRTT = rtt
			return rtt
		}
		return 0
	}
	return 0
}

// receiverReport is rtpengine's ssrc_receiver_report: a stats block for
// the reporting SSRC from a report block about what it receives.
func (r *Registry) receiverReport(q *rtcpQuality, b rtcp.ReportBlock) {
	rtt := q.roundTrip(b.SSRC, b.LSR, b.DLSR, func(e *ssrcStats) []timeItem { return e.srs })
	if b.LSR == 0 || b.DLSR == 0 {
		return // rtpengine knows no payload type then: "discarding"
	}
	// The jitter is in RTP timestamp units of what the reporter
	// receives: the payload type most sent to it (rtpengine tracks it
	// per SSRC), which must be one of its own.
	pt, ok := q.v.peerPayloadType()
	if !ok || !q.v.known.Has(uint8(pt)) {
		return
	}
	jitter := int64(b.Jitter)
	if clock := q.v.clocks.Clock(uint8(pt)); clock != 0 {
		jitter = int64(b.Jitter) * 1000 / int64(clock)
	}
	other := q.v.party.ssrcOf(q.from)
	e2e := int64(0)
	if other.lastRTT != 0 {
		e2e = rtt + other.lastRTT
	}
	if other.lastRTTXR > 0 {
		e2e = int64(other.lastRTTXR) * 1000
	}
	blk := mosBlock{jitter: jitter, rtt: e2e, rttLeg: rtt, reported: q.now, loss: int64(b.FractionLost) * 100 / 256}
	other.lost = b.PacketsLost
	mosCalc(&blk, r.cfg.MOS)
	if blk.mos != 0 {
		r.counters.MOSSum.Add(uint64(blk.mos))
		r.counters.MOSSquares.Add(uint64(blk.mos * blk.mos))
		r.counters.MOSSamples.Add(1)
	}
	if n := len(other.blocks); n > 0 && q.now.Sub(other.blocks[n-1].reported) < time.Second {
		return // one block a second at most
	}
	other.blocks = append(other.blocks, blk)
	i := len(other.blocks) - 1
	if blk.mos != 0 && (other.lowest < 0 || blk.mos < other.blocks[other.lowest].mos) {
		other.lowest = i
	}
	if other.highest < 0 || blk.mos > other.blocks[other.highest].mos {
		other.highest = i
	}
	if blk.mos == 0 {
		other.noMOS++
		return
	}
	other.sum.jitter += blk.jitter
	other.sum.mos += blk.mos
	other.sum.rtt += blk.rtt
	other.sum.rttLeg += blk.rttLeg
	other.sum.loss += blk.loss
}

// peerPayloadType is the payload type of most RTP the party's peers sent
// it on this media.
func (v *mosView) peerPayloadType() (int, bool) {
	for _, rs := range v.peerRTP {
		if pt, ok := rs.TopPayloadType(relay.PTSet{}); ok {
			return pt, true
		}
	}
	return 0, false
}

// mediaRTCP is the relay's RTCP hook of one party's media: quality
// figures always, Homer and the RTCP log when configured.
type mediaRTCP struct {
	r     *Registry
	c     *Call
	hooks *rtcpHooks // nil without --homer and --log-facility-rtcp; set once
	view  atomic.Pointer[mosView]
}

// RTCP implements relay.RTCPReporter.
func (h *mediaRTCP) RTCP(src, dst netip.AddrPort, pkt []byte, now int64) {
	if h.hooks != nil {
		h.hooks.RTCP(src, dst, pkt, now)
	}
	v := h.view.Load()
	if v == nil {
		return
	}
	h.c.ssrcMu.Lock()
	defer h.c.ssrcMu.Unlock()
	rtcp.Walk(pkt, &rtcpQuality{r: h.r, v: v, now: time.Unix(0, now)})
}

// rtcpHook is the RTCP hook of party's media md (made once per media),
// its view brought up to date (c.mu held).
func (r *Registry) rtcpHook(c *Call, party *Monologue, md *Media) relay.RTCPReporter {
	h := md.rtcpHook
	if h == nil {
		h = &mediaRTCP{r: r, c: c, hooks: r.rtcpHooksOf(c)}
		md.rtcpHook = h
	}
	v := &mosView{party: party, peers: slices.Clone(party.subscriptions), known: knownPTs(md), clocks: md.payloads}
	for _, peer := range party.subscriptions {
		for _, pm := range peer.Medias {
			if pm.Index == md.Index && len(pm.Streams) > 0 && pm.Streams[0] != nil && pm.Streams[0].rs != nil {
				v.peerRTP = append(v.peerRTP, pm.Streams[0].rs)
			}
		}
	}
	h.view.Store(v)
	return h
}

// ssrcStatsLocked adds party m's SSRC entries that have a MOS to st, as
// rtpengine's ng_stats_ssrc (an SSRC listed already stays).
func (c *Call) ssrcStatsLocked(m *Monologue, st *CallStats) {
	c.ssrcMu.Lock()
	defer c.ssrcMu.Unlock()
	for ssrc, e := range m.ssrc {
		if len(e.blocks) == 0 || e.lowest < 0 || e.highest < 0 {
			continue
		}
		if _, dup := st.SSRC[ssrc]; dup {
			continue
		}
		if st.SSRC == nil {
			st.SSRC = make(map[uint32]SSRCStats)
		}
		n := max(len(e.blocks)-e.noMOS, 1)
		ss := SSRCStats{CumulativeLoss: e.lost, Samples: n,
			Average: MOSFigures{MOS: e.sum.mos / int64(n), RTT: e.sum.rtt / int64(n), RTTLeg: e.sum.rttLeg / int64(n),
				Jitter: e.sum.jitter / int64(n), Loss: e.sum.loss / int64(n)},
			Lowest: e.blocks[e.lowest].figures(), Highest: e.blocks[e.highest].figures()}
		// About ten entries, as rtpengine picks them.
		first := e.blocks[0].reported.Unix()
		ss.Interval = (e.blocks[len(e.blocks)-1].reported.Unix() - first) / 10
		next := first
		for _, b := range e.blocks {
			if b.reported.Unix() < next {
				continue
			}
			next += ss.Interval
			ss.Progression = append(ss.Progression, b.figures())
		}
		st.SSRC[ssrc] = ss
	}
}

func (b *mosBlock) figures() MOSFigures {
	return MOSFigures{MOS: b.mos, RTT: b.rtt, RTTLeg: b.rttLeg, Jitter: b.jitter, Loss: b.loss, ReportedAt: b.reported.Unix()}
}
