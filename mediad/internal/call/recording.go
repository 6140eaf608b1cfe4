package call

import (
	"time"

	"sipmedia/mediad/internal/recording"
	"sipmedia/mediad/internal/relay"
)

// This file is call recording as rtpengine 10.5 does it with its pcap
// method: the offer's "record call" key or record-call flag, and the
// start recording and stop recording commands, turn a call's recording
// on or off; while on, every packet a party sends goes to the call's pcap
// file (the relay's Forwarding.Record) and every SDP the daemon sends is
// noted in the metadata file. A recorded call stays in userspace.
//
// start forwarding and stop forwarding (for the call or one party) are
// rtpengine's commands to stream a call to its recording daemon, which
// only its proc method has; with the pcap method rtpengine records the
// call while any forwarding is on, and so does mediad.

// recState is a call's recording.
type recState struct {
	// on is rtpengine's recording_on: recording was asked for.
	on bool
	// forwarding is rtpengine's rec_forwarding for the whole call (start
	// forwarding without a party).
	forwarding bool
	// rec is the running recording (nil: none, also when on but no
	// spool directory is configured or the files could not be made).
	rec *recording.Recording
	// metadata is the call's metadata key, written when recording ends.
	metadata string
}

// RecordParams are a start recording or stop recording command. A
// from-tag changes nothing here: rtpengine keeps metadata per party too,
// but its pcap method writes only the call's.
type RecordParams struct {
	CallID string
	// Metadata, if not empty, replaces the call's metadata.
	Metadata string
}

// Record carries out start recording (on) or stop recording.
func (r *Registry) Record(p RecordParams, on bool) error {
	c := r.lookup(p.CallID)
	if c == nil {
		return ErrUnknownCall
	}
	defer c.mu.Unlock()
	if p.Metadata != "" {
		c.rec.metadata = p.Metadata
	}
	c.rec.on = on
	if on {
		r.startRecordingLocked(c)
	} else {
		r.stopRecordingLocked(c, time.Now())
	}
	return nil
}

// recordFlags applies an offer's or answer's recording keys, before
// the media is set up (rtpengine's detect_setup_recording).
func (r *Registry) recordFlags(c *Call, p *Params) {
	if p.Metadata != "" {
		c.rec.metadata = p.Metadata
	}
	switch p.RecordCall {
	case "yes", "on":
		c.rec.on = true
		r.startRecordingLocked(c)
	case "no", "off":
		c.rec.on = false
		r.stopRecordingLocked(c, time.Now())
	case "":
	default:
		r.log.Info("invalid record call value", "call-id", c.ID, "value", p.RecordCall)
	}
	if p.flag("record-call") {
		c.rec.on = true
		r.startRecordingLocked(c)
	}
}

func (r *Registry) startRecordingLocked(c *Call) {
	if c.rec.rec != nil {
		return
	}
	if r.cfg.Recording == nil {
		r.log.Error("call recording requested, but no spool directory configured", "call-id", c.ID)
		return
	}
	rec, err := r.cfg.Recording.Start(c.ID)
	if err != nil {
		r.log.Error("call recording", "call-id", c.ID, "err", err)
		return
	}
	r.log.Info("call recording on", "call-id", c.ID, "file", rec.Path())
	c.rec.rec = rec
	r.publishRecorder(c)
}

// stopRecordingLocked ends the recording unless it is still asked for.
func (r *Registry) stopRecordingLocked(c *Call, now time.Time) {
	if c.rec.rec == nil || c.recordingWanted() {
		return
	}
	r.finishRecordingLocked(c, now)
	r.publishRecorder(c)
}

// recordingWanted: recording, or forwarding of the call or of a party,
// is on (rtpengine's recording_stop keeps the recording then).
func (c *Call) recordingWanted() bool {
	if c.rec.on || c.rec.forwarding {
		return true
	}
	for _, m := range c.monologues {
		if m.recForwarding {
			return true
		}
	}
	return false
}

// ForwardParams is a start forwarding or stop forwarding command.
type ForwardParams struct {
	Party
	// Metadata, if not empty, replaces the call's metadata.
	Metadata string
}

// Forward carries out start forwarding (on) or stop forwarding as
// rtpengine 10.5 does with its pcap method: it starts the recording, or
// ends it once nothing asks for it any more.
func (r *Registry) Forward(p ForwardParams, on bool) error {
	c, m, err := r.lockParty(p.Party)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	switch {
	case m != nil:
		m.recForwarding = on
	case on:
		c.rec.forwarding = true
	default:
		c.rec.forwarding = false
		if p.All {
			for _, ml := range c.monologues {
				ml.recForwarding = false
			}
		}
	}
	if p.Metadata != "" {
		c.rec.metadata = p.Metadata
	}
	if on {
		r.startRecordingLocked(c)
	} else {
		r.stopRecordingLocked(c, time.Now())
	}
	return nil
}

// finishRecordingLocked closes the call's recording files.
func (r *Registry) finishRecordingLocked(c *Call, now time.Time) {
	rec := c.rec.rec
	if rec == nil {
		return
	}
	c.rec.rec = nil
	var terminated time.Time
	if len(c.monologues) > 0 {
		terminated = c.monologues[0].terminated
	}
	if err := rec.Finish(terminated, c.created, now, c.rec.metadata); err != nil {
		r.log.Error("call recording", "call-id", c.ID, "err", err)
		return
	}
	r.log.Info("call recording off", "call-id", c.ID, "file", rec.Path())
}

// publishRecorder gives every stream of the call the current recording
// and moves the call out of the kernel, or back in.
func (r *Registry) publishRecorder(c *Call) {
	rec := c.recorder()
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			for _, s := range md.Streams {
				if s != nil && s.rs != nil {
					s.rs.SetRecorder(rec)
				}
			}
		}
	}
	r.kernelizeLocked(c)
}

// recorder is the relay's view of the call's recording (a nil interface
// without one).
func (c *Call) recorder() relay.Recorder {
	if c.rec.rec == nil {
		return nil
	}
	return c.rec.rec
}

// noteSDP writes an SDP sent to the metadata file: party sent the SDP
// it was made from.
func (r *Registry) noteSDP(c *Call, party *Monologue, answer bool, out string) {
	if c.rec.rec == nil {
		return
	}
	mode := "offer"
	if answer {
		mode = "answer"
	}
	if err := c.rec.rec.SDP(party.Label, party.Created, mode, out); err != nil {
		r.log.Warn("call recording", "call-id", c.ID, "err", err)
	}
}

// recordings is the reply's "recordings" list.
func (c *Call) recordings() []string {
	if c.rec.rec == nil {
		return nil
	}
	return []string{c.rec.rec.Path()}
}
