package registrar

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLocationFile: a written table reads back equal, without the
// bindings expired by then; the file is rewritten only after a change; a
// missing file is an empty table and a broken one an error.
func TestLocationFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.json")
	now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	s := NewMemStore()
	if n, err := LoadFile(path, s, now); n != 0 || err != nil {
		t.Fatalf("missing file: %d, %v", n, err)
	}
	want := []Binding{
		{AOR: "alice", Contact: "sip:alice@192.0.2.1:5060", Q: 0.5, Expires: now.Add(time.Hour), CallID: "c1", CSeq: 7,
			Received: "sip:198.51.100.1:40000", Socket: "udp:127.0.0.1:5060", Methods: []string{"INVITE", "BYE"},
			UserAgent: "phone", Updated: now},
		{AOR: "bob", Contact: "sip:bob@abc.invalid;transport=ws", Q: -1, Expires: now.Add(30 * time.Second), CallID: "c2", CSeq: 1,
			Socket: "wss:127.0.0.1:8443", DstWS: true, Instance: "<urn:uuid:1>", Updated: now},
		{AOR: "carol", Contact: "sip:carol@192.0.2.3", Q: -1, Expires: now.Add(10 * time.Second), Socket: "udp:127.0.0.1:5060", Updated: now},
	}
	for _, b := range want {
		s.Update(context.Background(), b.AOR, now, func(bs []Binding) ([]Binding, error) { return append(bs, b), nil })
	}
	y := &Syncer{Path: path, Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := y.Sync(now); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	y.Sync(now.Add(time.Second)) // unchanged: not written again
	if st2, _ := os.Stat(path); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("an unchanged table was written again")
	}

	later := now.Add(20 * time.Second) // carol has expired
	s2 := NewMemStore()
	n, err := LoadFile(path, s2, later)
	if err != nil || n != 2 {
		t.Fatalf("read %d, %v; want 2", n, err)
	}
	got, _ := s2.All(context.Background(), later)
	if !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want[:2])
	}

	for _, bad := range []string{"{", `{"format": 2, "bindings": []}`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(path, NewMemStore(), now); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: error %v, want one naming the file", bad, err)
		}
	}
	if err := (&Syncer{Path: "/nonexistent/dir/location.json", Store: s, Log: y.Log}).Sync(now); err == nil {
		t.Error("an unwritable path gave no error")
	}
}

// FuzzLoadFile: any file content is read or refused with an error, never
// a panic; what is read is live and complete, and written back reads the
// same.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(`{"format":1,"bindings":[{"aor":"a","contact":"sip:a@192.0.2.1","q":-1,"expires":"2030-01-01T00:00:00Z","socket":"udp:127.0.0.1:5060"}]}`))
	f.Add([]byte(`{"format":1,"bindings":[{"aor":"","contact":"x","expires":"2030-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`[`))
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "location.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s := NewMemStore()
		n, err := LoadFile(path, s, now)
		if err != nil {
			return
		}
		all, _ := s.All(context.Background(), now)
		if len(all) != n {
			t.Fatalf("read %d, store holds %d", n, len(all))
		}
		seen := map[[2]string]bool{}
		for _, b := range all {
			if b.AOR == "" || b.Contact == "" || !b.Expires.After(now) || seen[[2]string{b.AOR, b.Contact}] {
				t.Fatalf("kept %+v", b)
			}
			seen[[2]string{b.AOR, b.Contact}] = true
		}
		if _, err := SaveFile(path, s, now); err != nil {
			t.Fatal(err)
		}
		if m, err := LoadFile(path, NewMemStore(), now); err != nil || m != n {
			t.Fatalf("written back: read %d, %v; want %d", m, err, n)
		}
	})
}
