package call

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"sipmedia/mediad/internal/player"
)

// MediaParams is a play media command: the party (or, with All, every
// party) that hears the audio, and where the audio is.
type MediaParams struct {
	Party
	File   string // a file on this host
	Blob   []byte // the file's contents in the message
	DBID   int64  // a database row (rtpengine's MySQL option; none here)
	Repeat int    // times to play; 0 or less: once
}

// PlayMedia plays a WAV or MP3 file to the named parties as rtpengine
// 10.5's play media does: an RTP stream of its own toward each party, in
// the party's first G.711 codec, beside the media forwarded to it; a new
// playback to a party replaces the one it hears. It returns the audio's
// duration.
func (r *Registry) PlayMedia(p MediaParams) (time.Duration, error) {
	// The party is checked first, as rtpengine does, then the file is
	// read and checked without the call's lock (a file of megabytes on a
	// slow disk), then the party is looked up again.
	if err := r.withParties(p.Party, func(*Call, []*Monologue) error { return nil }); err != nil {
		return 0, err
	}
	a, err := r.loadAudio(p)
	if err != nil {
		return 0, err
	}
	err = r.withParties(p.Party, func(c *Call, parties []*Monologue) error {
		return r.startPlayers(c, parties, a, p.Repeat)
	})
	if err != nil {
		return 0, err
	}
	return a.Duration(), nil
}

// withParties runs fn with the call p names, locked, and the parties it
// selects (see selected).
func (r *Registry) withParties(p Party, fn func(*Call, []*Monologue) error) error {
	c, m, err := r.lockParty(p)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	parties, err := c.selected(m, p.All)
	if err != nil {
		return err
	}
	return fn(c, parties)
}

// startPlayers plays a to each party, replacing what it hears already.
func (r *Registry) startPlayers(c *Call, parties []*Monologue, a *player.Audio, repeat int) error {
	for _, ml := range parties {
		md := firstAudio(ml)
		if md == nil {
			return ErrNoDTMFMedia
		}
		codec, ok := playCodec(md)
		if !ok {
			return ErrNoPlayCodec
		}
		s := md.Streams[0]
		if s == nil || s.rs == nil {
			return ErrNoPlayStream
		}
		ml.playedMedia = true
		if md.player != nil {
			md.player.Stop()
		}
		md.player = player.Start(a, codec, repeat, s.rs, r.log.With("call-id", c.ID, "tag", ml.Tag))
	}
	return nil
}

// StopMedia stops what PlayMedia plays to the named parties; a party
// that never had media played gets rtpengine's "Not currently playing
// media", one whose playback ended does not.
func (r *Registry) StopMedia(p Party) error {
	return r.withParties(p, func(_ *Call, parties []*Monologue) error {
		for _, ml := range parties {
			if !ml.playedMedia {
				return ErrNotPlaying
			}
			for _, md := range ml.Medias {
				stopPlayer(md)
			}
		}
		return nil
	})
}

// selected are the parties a play command names: m, or with all every
// party in a dialogue.
func (c *Call) selected(m *Monologue, all bool) ([]*Monologue, error) {
	if m != nil {
		return []*Monologue{m}, nil
	}
	if !all {
		return nil, ErrNoParty
	}
	var out []*Monologue
	for _, ml := range c.monologues {
		if !ml.zombie && ml.peer != nil {
			out = append(out, ml)
		}
	}
	return out, nil
}

// loadAudio reads and decodes the audio p names, with rtpengine's
// errors; the reason goes to the log.
func (r *Registry) loadAudio(p MediaParams) (*player.Audio, error) {
	var (
		b    []byte
		err  error
		from = ErrPlayFile
	)
	switch {
	case p.File != "":
		b, err = readFileMax(p.File, player.MaxFileSize)
	case len(p.Blob) > 0:
		b, from = p.Blob, ErrPlayBlob
	case p.DBID > 0:
		r.log.Warn("media playback from a database: no database configured", "call-id", p.CallID, "db-id", p.DBID)
		return nil, ErrPlayDB
	default:
		return nil, ErrNoMediaFile
	}
	var a *player.Audio
	if err == nil {
		a, err = player.Decode(b)
	}
	if err != nil {
		r.log.Warn("media playback", "call-id", p.CallID, "file", p.File, "err", err)
		return nil, fmt.Errorf("%w: %w", from, err)
	}
	return a, nil
}

// readFileMax reads a file of at most limit bytes.
func readFileMax(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", name, limit)
	}
	return os.ReadFile(name)
}

// playCodec is the first G.711 codec in md's formats (the party's order
// of preference), which the party receives.
func playCodec(md *Media) (player.Codec, bool) {
	for _, f := range md.Formats {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		if law := md.payloads.G711(uint8(n)); law != 0 {
			return player.Codec{PT: uint8(n), Law: law}, true
		}
	}
	return player.Codec{}, false
}

// stopPlayer ends md's playback, before its sockets go.
func stopPlayer(md *Media) {
	if md.player != nil {
		md.player.Stop()
		md.player = nil
	}
}
