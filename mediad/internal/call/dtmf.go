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

// injector is the DTMF injector of what party sends on a toward b: nil
// unless party's signalling asked for inject DTMF, and in passthrough
// (the media is encrypted end to end). It is made once and kept, so
// that digits queued survive a re-negotiation; its payload types follow
// the SDPs.
func injector(party *Monologue, a, b *Media) *relay.Injector {
	if !party.injectDTMF || a.Passthru {
		return nil
	}
	if a.inject == nil {
		a.inject = &relay.Injector{}
	}
	a.inject.SetPayloads(&a.payloads, &b.payloads)
	return a.inject
}

// DTMFParams is a play DTMF command: the party (or, with All, every
// party) whose audio the digit goes into, heard by its peer.
type DTMFParams struct {
	Party
	Digit relay.Digit
}

// PlayDTMF queues p's digit into the audio the party sends, to replace
// its audio as it arrives (relay.Injector), as rtpengine 10.5's play
// DTMF does. It returns the parties it queued nothing for because their
// signalling did not ask for inject DTMF: rtpengine then answers ok and
// plays nothing.
func (r *Registry) PlayDTMF(p DTMFParams) (notInjectable []string, err error) {
	err = r.withParties(p.Party, func(_ *Call, parties []*Monologue) error {
		for _, ml := range parties {
			md := firstAudio(ml)
			if md == nil {
				return ErrNoDTMFMedia
			}
			if ml.peer == nil || firstAudio(ml.peer) == nil {
				return ErrNoDTMFSink
			}
			if !ml.injectDTMF || md.Passthru {
				notInjectable = append(notInjectable, ml.Tag)
				continue
			}
			injector(ml, md, firstAudio(ml.peer)) // before the relay made it
			if !md.inject.CanPlay() {
				return ErrNoDTMFCodec
			}
			if err := md.inject.Queue(p.Digit); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return notInjectable, nil
}

// firstAudio is m's first audio media, as rtpengine picks the media to
// inject into; nil if it has none.
func firstAudio(m *Monologue) *Media {
	for _, md := range m.Medias {
		if md.Type == "audio" {
			return md
		}
	}
	return nil
}
