package call

import (
	"strconv"
	"time"
)

// Termination reasons of a party, as rtpengine's CDR names them
// (cdr.c, __term_reason_texts): why its call ended.
const (
	termRegular       = "REGULAR"        // a delete command
	termForced        = "FORCED"         // the CLI's terminate, or shutdown
	termTimeout       = "TIMEOUT"        // no media within --timeout
	termSilentTimeout = "SILENT_TIMEOUT" // nothing from a silent party within --silent-timeout
	termOfferTimeout  = "OFFER_TIMEOUT"  // no answer, or no peer address, in time
	termFinalTimeout  = "FINAL_TIMEOUT"  // --final-timeout
	termUnknown       = "UNKNOWN"        // anything else (a failed offer)
)

// destroyTerm maps destroyLocked's reasons that end every party at once
// to their termination reason; the others keep what a delete set.
var destroyTerm = map[string]string{
	"final timeout":  termFinalTimeout,
	"offer timeout":  termOfferTimeout,
	"timeout":        termTimeout,
	"silent timeout": termSilentTimeout,
	"terminated":     termForced,
}

// terminateLocked records when and why the call's parties ended, as
// rtpengine does before its CDR: a timeout or the CLI ends them all; a
// party a delete did not reach ends now for an unknown reason.
func (c *Call) terminateLocked(reason string, now time.Time) {
	term, all := destroyTerm[reason]
	if !all {
		term = termUnknown
	}
	for _, m := range c.monologues {
		if all || m.terminated.IsZero() {
			m.terminated, m.termReason = now, term
		}
	}
}

// cdrLine is a CDR being written: "key=value, " fields, as rtpengine
// writes every field, the last one too.
type cdrLine []byte

func (l cdrLine) str(key, v string) cdrLine {
	return append(append(append(append(l, key...), '='), v...), ", "...)
}

func (l cdrLine) num(key string, v int64) cdrLine {
	return append(strconv.AppendInt(append(append(l, key...), '='), v, 10), ", "...)
}

// time writes microseconds as rtpengine's "%ld.%06ld" seconds.
func (l cdrLine) time(key string, us int64) cdrLine {
	return append(cdrTime(append(append(l, key...), '='), us), ", "...)
}

// cdrLocked writes the call's CDR line to Config.CDRLog, in the format
// of rtpengine 10.5's --log-facility-cdr (cdr.c, cdr_update_entry,
// without the delay fields of builds that measure them): the call, then
// each party with its media streams as received from it. It runs before
// the call's sockets go, with the counters brought up to date.
func (r *Registry) cdrLocked(c *Call) {
	if r.cfg.CDRLog == nil {
		return
	}
	r.kernelRefreshLocked(c)
	l := make(cdrLine, 0, 1024).str("ci", c.ID).str("created_from", c.proxy).
		num("last_signal", c.lastSignal.Unix()).num("tos", int64(c.tos))
	for i, m := range c.monologues {
		ml := "ml" + strconv.Itoa(i) + "_"
		tagType := "FROM_TAG"
		if m.answerer {
			tagType = "TO_TAG"
		}
		l = l.time(ml+"start_time", m.Created.UnixMicro()).time(ml+"end_time", m.terminated.UnixMicro()).
			time(ml+"duration", m.terminated.Sub(m.Created).Microseconds()).
			str(ml+"termination", m.termReason).str(ml+"local_tag", m.Tag).str(ml+"local_tag_type", tagType)
		for _, x := range m.subscriptions {
			l = l.str(ml+"remote_tag", x.Tag)
		}
		for _, md := range m.Medias {
			l = cdrMedia(l, ml, md, c.lastSignal)
		}
	}
	_, _ = r.cfg.CDRLog.Write(l)
}

// cdrMedia appends a media's payload type and its streams' fields.
func cdrMedia(l cdrLine, ml string, md *Media, lastSignal time.Time) cdrLine {
	pt, ok := -1, false
	// rtpengine counts payload types for RTP media only (rtp_stats).
	if known := knownPTs(md); !known.Empty() && len(md.Streams) > 0 && md.Streams[0] != nil && md.Streams[0].rs != nil {
		pt, ok = md.Streams[0].rs.TopPayloadType(known)
	}
	if ok {
		l = l.num("payload_type", int64(pt))
	} else {
		l = l.str("payload_type", "unknown")
	}
	for _, s := range md.Streams {
		if s == nil || s.RTCP && md.neg.mux {
			continue // rtpengine's fallback RTCP stream is left out
		}
		p := ml + "midx" + strconv.Itoa(md.Index) + "_rtp_"
		if s.RTCP {
			p = ml + "midx" + strconv.Itoa(md.Index) + "_rtcp_"
		}
		ep := "0.0.0.0"
		if s.Endpoint.IsValid() {
			ep = s.Endpoint.Addr().Unmap().String()
		}
		local, port := "0.0.0.0", 0
		if s.Pair != nil {
			local, port = s.LocalAddr.String(), s.LocalPort
		}
		last := lastSignal.Unix()
		if ns := s.lastPacketNs(); ns > 0 {
			last = ns / int64(time.Second)
		}
		n := s.counts()
		l = l.str(p+"endpoint_ip", ep).num(p+"endpoint_port", int64(s.Endpoint.Port())).
			str(p+"local_relay_ip", local).num(p+"local_relay_port", int64(port)).
			num(p+"relayed_packets", int64(n.Packets)).num(p+"relayed_bytes", int64(n.Bytes)).
			num(p+"relayed_errors", int64(n.Errors)).num(p+"last_packet", last).
			// The TOS of received packets: rtpengine learns it from
			// its kernel module only, so userspace relaying reports 0.
			num(p+"in_tos_tclass", 0)
	}
	return l
}

// cdrTime appends microseconds as rtpengine's "%ld.%06ld" seconds.
func cdrTime(b []byte, us int64) []byte {
	b = strconv.AppendInt(b, us/1e6, 10)
	frac := strconv.AppendInt(nil, 1e6+us%1e6, 10)
	return append(append(b, '.'), frac[1:]...)
}
