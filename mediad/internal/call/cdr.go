package call

import (
	"slices"
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
	for _, m := range c.monologues {
		if all || m.terminated.IsZero() {
			m.terminated = now
			m.termReason = term
			if !all {
				m.termReason = termUnknown
			}
		}
	}
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
	b := make([]byte, 0, 1024)
	b = append(b, "ci="...)
	b = append(b, c.ID...)
	b = append(b, ", created_from="...)
	b = append(b, c.proxy...)
	b = append(b, ", last_signal="...)
	b = strconv.AppendInt(b, c.lastSignal.Unix(), 10)
	b = append(b, ", tos="...)
	b = strconv.AppendInt(b, int64(c.tos), 10)
	b = append(b, ", "...)
	for i, m := range c.monologues {
		ml := "ml" + strconv.Itoa(i) + "_"
		b = cdrTime(append(b, ml+"start_time="...), m.Created.UnixMicro())
		b = cdrTime(append(b, ", "+ml+"end_time="...), m.terminated.UnixMicro())
		b = cdrTime(append(b, ", "+ml+"duration="...), m.terminated.Sub(m.Created).Microseconds())
		b = append(b, ", "+ml+"termination="...)
		b = append(b, m.termReason...)
		b = append(b, ", "+ml+"local_tag="...)
		b = append(b, m.Tag...)
		b = append(b, ", "+ml+"local_tag_type="...)
		if m.answerer {
			b = append(b, "TO_TAG, "...)
		} else {
			b = append(b, "FROM_TAG, "...)
		}
		for _, x := range m.subscriptions {
			b = append(b, ml+"remote_tag="...)
			b = append(b, x.Tag...)
			b = append(b, ", "...)
		}
		for _, md := range m.Medias {
			b = cdrMedia(b, ml, md, c.lastSignal)
		}
	}
	_, _ = r.cfg.CDRLog.Write(b)
}

// cdrMedia appends a media's payload type and its streams' fields.
func cdrMedia(b []byte, ml string, md *Media, lastSignal time.Time) []byte {
	b = append(b, "payload_type="...)
	pt, ok := -1, false
	if len(md.Streams) > 0 && md.Streams[0] != nil && md.Streams[0].rs != nil {
		pt, ok = md.Streams[0].rs.TopPayloadType(func(pt int) bool {
			return slices.Contains(md.Formats, strconv.Itoa(pt))
		})
	}
	if ok {
		b = strconv.AppendInt(b, int64(pt), 10)
	} else {
		b = append(b, "unknown"...)
	}
	b = append(b, ", "...)
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
		b = append(append(append(b, p...), "endpoint_ip="...), ep...)
		b = strconv.AppendInt(append(append(b, ", "...), p+"endpoint_port="...), int64(s.Endpoint.Port()), 10)
		b = append(append(append(b, ", "...), p+"local_relay_ip="...), local...)
		b = strconv.AppendInt(append(append(b, ", "...), p+"local_relay_port="...), int64(port), 10)
		b = strconv.AppendUint(append(append(b, ", "...), p+"relayed_packets="...), n.Packets, 10)
		b = strconv.AppendUint(append(append(b, ", "...), p+"relayed_bytes="...), n.Bytes, 10)
		b = strconv.AppendUint(append(append(b, ", "...), p+"relayed_errors="...), n.Errors, 10)
		b = strconv.AppendInt(append(append(b, ", "...), p+"last_packet="...), last, 10)
		// The TOS of received packets: rtpengine learns it from its
		// kernel module only, so userspace relaying reports 0.
		b = append(append(append(b, ", "...), p+"in_tos_tclass=0"...), ", "...)
	}
	return b
}

// cdrTime appends microseconds as rtpengine's "%ld.%06ld" seconds.
func cdrTime(b []byte, us int64) []byte {
	b = strconv.AppendInt(b, us/1e6, 10)
	frac := strconv.AppendInt(nil, 1e6+us%1e6, 10)
	return append(append(b, '.'), frac[1:]...)
}
