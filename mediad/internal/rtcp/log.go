package rtcp

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// LogLine renders a compound RTCP packet of call callID as rtpengine
// 10.5's --log-facility-rtcp line (rtcp.c's logging_* handlers):
// "[CALLID] " and "key=value, " fields per packet and block, trailing
// blanks and commas cut. ok=false: nothing to log (rtpengine logs no line
// either). rtpengine byte-swaps some XR fields twice (it prints a value
// already in host order through ntohl/ntohs): they are printed as it
// prints them on little-endian machines, so that a parser of its lines
// reads ours alike.
func LogLine(callID string, pkt []byte) (line []byte, ok bool) {
	l := &logVisitor{b: make([]byte, 0, 256)}
	l.b = append(append(append(l.b, '['), callID...), "] "...)
	start := len(l.b)
	Walk(pkt, l)
	for len(l.b) > 0 && (l.b[len(l.b)-1] == ' ' || l.b[len(l.b)-1] == ',') {
		l.b = l.b[:len(l.b)-1]
	}
	return l.b, len(l.b) > start
}

// logVisitor renders the walk as rtpengine's logging handlers.
type logVisitor struct {
	Nop
	b []byte
}

// field appends "name=value, ".
func (l *logVisitor) field(name string, v uint64) {
	l.b = append(l.b, name...)
	l.b = append(l.b, '=')
	l.b = strconv.AppendUint(l.b, v, 10)
	l.b = append(l.b, ", "...)
}

// fields appends name=value pairs.
func (l *logVisitor) fields(names []string, vals ...uint64) {
	for i, n := range names {
		l.field(n, vals[i])
	}
}

var (
	commonNames = []string{"version", "padding", "count", "payloadtype", "length", "ssrc"}
	srNames     = []string{"ntp_sec", "ntp_fractions", "rtp_ts", "sender_packets", "sender_bytes"}
	rrNames     = []string{"ssrc", "fraction_lost", "packet_loss", "last_seq", "jitter", "last_sr", "delay_since_last_sr"}
	xrNames     = []string{"rb_header_blocktype", "rb_header_blockspecdata", "rb_header_blocklength"}
	vmNames     = []string{"rb_voip_mtc_ssrc", "rb_voip_mtc_loss_rate", "rb_voip_mtc_discard_rate", "rb_voip_mtc_burst_den",
		"rb_voip_mtc_gap_den", "rb_voip_mtc_burst_dur", "rb_voip_mtc_gap_dur", "rb_voip_mtc_rnd_trip_delay",
		"rb_voip_mtc_end_sys_delay", "rb_voip_mtc_signal_lvl", "rb_voip_mtc_noise_lvl", "rb_voip_mtc_rerl",
		"rb_voip_mtc_gmin", "rb_voip_mtc_r_factor", "rb_voip_mtc_ext_r_factor", "rb_voip_mtc_mos_lq",
		"rb_voip_mtc_mos_cq", "rb_voip_mtc_rx_config", "rb_voip_mtc_jb_nom", "rb_voip_mtc_jb_max", "rb_voip_mtc_jb_abs_max"}
)

func (l *logVisitor) Common(h Header) {
	l.fields(commonNames, uint64(h.Version), uint64(h.Padding), uint64(h.Count), uint64(h.Type), uint64(h.Length), uint64(h.SSRC))
}

func (l *logVisitor) SDESListStart(h Header) {
	l.fields(commonNames[:5], uint64(h.Version), uint64(h.Padding), uint64(h.Count), uint64(h.Type), uint64(h.Length))
}

func (l *logVisitor) SR(s SenderInfo) {
	l.fields(srNames, uint64(s.NTPSec), uint64(s.NTPFrac), uint64(s.RTPTimestamp), uint64(s.Packets), uint64(s.Octets))
}

func (l *logVisitor) RR(b ReportBlock) {
	l.fields(rrNames, uint64(b.SSRC), uint64(b.FractionLost), uint64(b.PacketsLost), uint64(b.HighestSeq),
		uint64(b.Jitter), uint64(b.LSR), uint64(b.DLSR))
}

func (l *logVisitor) XRBlock(bt, specific byte, length uint16) {
	l.fields(xrNames, uint64(bt), uint64(specific), uint64(length))
}

// swapped is rtpengine's second ntohl of a 32-bit field.
func swapped(b []byte) uint64 { return uint64(bits.ReverseBytes32(be32(b))) }

func (l *logVisitor) XRRRTime(b []byte) {
	l.field("rb_rr_time_ntp_sec", swapped(b[4:]))
	l.field("rb_rr_time_ntp_frac", swapped(b[8:]))
}

func (l *logVisitor) XRDLRR(b []byte) {
	l.field("rb_dlrr_ssrc", swapped(b[4:]))
	l.field("rb_dlrr_lrr", swapped(b[8:]))
	l.field("rb_dlrr_dlrr", swapped(b[12:]))
}

func (l *logVisitor) XRStats(b []byte) {
	// rtpengine prints the 16-bit end_seq and the four 8-bit ToH fields
	// through ntohl: the value lands in the top bits. Some separators
	// lack their blank, as in its format string.
	l.field("rb_stats_ssrc", uint64(be32(b[4:])))
	l.field("rb_stats_begin_seq", uint64(binary.BigEndian.Uint16(b[8:])))
	l.field("rb_stats_end_seq", uint64(binary.BigEndian.Uint16(b[10:]))<<16)
	l.field("rb_stats_lost_packets", uint64(be32(b[12:])))
	l.b = append(l.b, "rb_stats_duplicate_packets="...)
	l.b = append(strconv.AppendUint(l.b, uint64(be32(b[16:])), 10), ',')
	l.field("rb_stats_jitter_min", uint64(be32(b[20:])))
	l.field("rb_stats_jitter_max", uint64(be32(b[24:])))
	l.field("rb_stats_jitter_mean", uint64(be32(b[28:])))
	l.b = append(l.b, "rb_stats_jitter_deviation="...)
	l.b = append(strconv.AppendUint(l.b, uint64(be32(b[32:])), 10), ',')
	for i, n := range []string{"rb_stats_toh_min", "rb_stats_toh_max", "rb_stats_toh_mean", "rb_stats_toh_deviation"} {
		l.field(n, uint64(b[36+i])<<24)
	}
}

func (l *logVisitor) XRVoIPMetrics(b []byte) {
	u16 := func(off int) uint64 { return uint64(binary.BigEndian.Uint16(b[off:])) }
	l.fields(vmNames, uint64(be32(b[4:])), uint64(b[8]), uint64(b[9]), uint64(b[10]), uint64(b[11]),
		u16(12), u16(14), u16(16), u16(18),
		uint64(b[20]), uint64(b[21]), uint64(b[22]), uint64(b[23]), uint64(b[24]), uint64(b[25]),
		uint64(b[26]), uint64(b[27]), uint64(b[28]), u16(30), u16(32), u16(34))
}
