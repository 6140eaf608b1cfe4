package registrar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The location table in a file: usrloc's write-back mode (db_mode 2 in
// OpenSIPS and Kamailio) with a file instead of a database. The table is
// written whole, to a temporary file renamed over the old one (a crash
// never leaves half a file), every sync interval when it changed and when
// the proxy stops; it is read at start, without what expired meanwhile.
// A restart so loses no registration, and a crash at most one interval's
// (those phones are unreachable until they register again).

// fileFormat is the file's version; a file of another is refused.
const fileFormat = 1

type locationFile struct {
	Format   int           `json:"format"`
	Saved    time.Time     `json:"saved"`
	Bindings []fileBinding `json:"bindings"`
}

// fileBinding is a Binding as the file holds it: its own names, so that
// renaming a field of Binding does not change the file.
type fileBinding struct {
	AOR       string    `json:"aor"`
	Contact   string    `json:"contact"`
	Q         float64   `json:"q"`
	Expires   time.Time `json:"expires"`
	CallID    string    `json:"call_id"`
	CSeq      uint32    `json:"cseq"`
	Received  string    `json:"received,omitempty"`
	Socket    string    `json:"socket"`
	DstWS     bool      `json:"dst_ws,omitempty"`
	Methods   []string  `json:"methods,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	Updated   time.Time `json:"updated"`
}

// LoadFile adds the bindings of the file at path that are live at now to
// s and reports how many. A missing file is an empty table.
func LoadFile(path string, s *MemStore, now time.Time) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("location file: %w", err)
	}
	var f locationFile
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, fmt.Errorf("location file %s: %w", path, err)
	}
	if f.Format != fileFormat {
		return 0, fmt.Errorf("location file %s: format %d, want %d", path, f.Format, fileFormat)
	}
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fb := range f.Bindings {
		if !fb.Expires.After(now) || fb.AOR == "" || fb.Contact == "" ||
			slices.ContainsFunc(s.m[fb.AOR], func(b Binding) bool { return b.Contact == fb.Contact }) {
			continue // expired, incomplete, or a contact given twice (the first stays)
		}
		s.m[fb.AOR] = append(s.m[fb.AOR], Binding(fb))
		n++
	}
	s.version++
	return n, nil
}

// SaveFile writes the live bindings of s to path and reports how many.
func SaveFile(path string, s *MemStore, now time.Time) (int, error) {
	all, err := s.All(context.Background(), now)
	if err != nil {
		return 0, err
	}
	f := locationFile{Format: fileFormat, Saved: now.UTC(), Bindings: make([]fileBinding, len(all))}
	for i, b := range all {
		f.Bindings[i] = fileBinding(b)
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("location file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing there
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("location file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("location file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("location file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("location file: %w", err)
	}
	return len(all), nil
}

// Syncer writes a MemStore to its file when it changed.
type Syncer struct {
	Path  string
	Store *MemStore
	Log   *slog.Logger

	saved uint64 // the store's version last written
}

// Sync writes the table if it changed since the last write; a failure is
// logged, and returned.
func (y *Syncer) Sync(now time.Time) error {
	v := y.Store.Version()
	if v == y.saved {
		return nil
	}
	n, err := SaveFile(y.Path, y.Store, now)
	if err != nil {
		y.Log.Error("location table not written", "error", err)
		return err
	}
	y.saved = v
	y.Log.Debug("location table written", "file", y.Path, "bindings", n)
	return nil
}

// Run syncs every interval until ctx ends (the last write is the
// caller's, once nothing registers any more).
func (y *Syncer) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func(now time.Time) { _ = y.Sync(now) }) // logged; tried again next time
}
