package call

import (
	"encoding/json"
	"strconv"
	"time"

	"sipmedia/mediad/internal/relay"
)

// dtmfLog is the relay's DTMF report for what party sends on media a
// (whose peer media is b): nil unless events are logged
// (Config.DTMFLog) and either side's SDP has telephone-event, and in
// passthrough, where the events are encrypted end to end. The call-id
// and tags are taken now; signalling publishes a new one whenever they
// change, so the packet path never takes the call's lock.
func (r *Registry) dtmfLog(c *Call, party *Monologue, a, b *Media) *relay.DTMFLog {
	w := r.cfg.DTMFLog
	if w == nil || a.Passthru || !a.payloads.HasEvents() && !b.payloads.HasEvents() {
		return nil
	}
	d := &relay.DTMFLog{Payloads: a.payloads}
	d.Payloads.Merge(&b.payloads)
	var tags []string
	for _, m := range c.monologues {
		if m.Tag != "" {
			tags = append(tags, m.Tag)
		}
	}
	callID, source := c.ID, party.Tag
	d.Report = func(ev relay.DTMFEvent) {
		if _, err := w.Write(dtmfJSON(callID, source, tags, time.Now(), ev)); err != nil {
			r.log.Warn("DTMF log", "call-id", callID, "err", err)
		}
	}
	return d
}

// dtmfJSON is rtpengine's DTMF log line (daemon/dtmf.c dtmf_json_print):
// the duration in milliseconds, the timestamp in seconds.
func dtmfJSON(callID, source string, tags []string, now time.Time, ev relay.DTMFEvent) []byte {
	b := make([]byte, 0, 192)
	b = append(b, `{"callid":`...)
	b = appendJSONString(b, callID)
	b = append(b, `,"source_tag":`...)
	b = appendJSONString(b, source)
	b = append(b, `,"tags":[`...)
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t)
	}
	b = append(b, `],"type":"DTMF","timestamp":`...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, `,"source_ip":"`...)
	b = ev.Source.AppendTo(b)
	b = append(b, `","event":`...)
	b = strconv.AppendUint(b, uint64(ev.Event), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendUint(b, uint64(ev.Duration)*(1000000/uint64(ev.ClockRate))/1000, 10)
	b = append(b, `,"volume":`...)
	b = strconv.AppendUint(b, uint64(ev.Volume), 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string (rtpengine prints tags
// unescaped; escaping keeps odd ones valid JSON).
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
