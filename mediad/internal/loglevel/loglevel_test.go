package loglevel

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestToSlog(t *testing.T) {
	for l, want := range map[int]slog.Level{8: slog.LevelDebug, 7: slog.LevelDebug, 6: slog.LevelInfo, 5: Notice, 4: slog.LevelWarn,
		3: slog.LevelError, 0: slog.LevelError + 4, -1: slog.LevelError + 4} {
		if got := ToSlog(l); got != want {
			t.Errorf("ToSlog(%d) = %v, want %v", l, got, want)
		}
	}
}

func TestLevels(t *testing.T) {
	l := New(5, map[string]int{"control": 7, "ice": 0})
	want := map[Subsystem]int{Core: 5, ICE: 5, Control: 7, Internals: -1, DTX: 5}
	for s, n := range want {
		if got := l.Get(s); got != n {
			t.Errorf("%s = %d, want %d", Subsystems[s].Name, got, n)
		}
	}
	if l := New(5, map[string]int{"internals": 7}); l.Get(Internals) != 7 {
		t.Errorf("--log-level-internals=7 gave %d", l.Get(Internals))
	}
	l.Add(1)
	if l.Get(Core) != 6 || l.Get(Internals) != 0 || l.Get(Control) != 8 {
		t.Errorf("after +1: core %d internals %d control %d", l.Get(Core), l.Get(Internals), l.Get(Control))
	}
	l.SetAll(3)
	for i := range numSubsystems {
		if l.Get(i) != 3 {
			t.Errorf("%s = %d after SetAll(3)", Subsystems[i].Name, l.Get(i))
		}
	}
	if s, ok := Lookup("srtp"); !ok || s != SRTP {
		t.Errorf("Lookup(srtp) = %v %v", s, ok)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) found a subsystem")
	}
}

func TestHandlerFiltersBySubsystem(t *testing.T) {
	var buf bytes.Buffer
	l := New(4, map[string]int{"control": 7})
	log := slog.New(l.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.Level(-100)})))
	log.Info("core-info")
	log.Warn("core-warn")
	ng := log.With("component", "ng")
	ng.Debug("ng-debug")
	ng.WithGroup("g").Debug("ng-group-debug")
	log.With("component", "relay").Info("relay-info")
	log.With("component", "webrtc").With("component", "ice").Warn("ice-warn")
	l.Set(Control, 4)
	ng.Info("ng-info-later")
	out := buf.String()
	for _, w := range []string{"core-warn", "ng-debug", "ng-group-debug", "ice-warn"} {
		if !strings.Contains(out, "msg="+w) {
			t.Errorf("%s missing:\n%s", w, out)
		}
	}
	for _, n := range []string{"core-info", "relay-info", "ng-info-later"} {
		if strings.Contains(out, "msg="+n) {
			t.Errorf("%s logged:\n%s", n, out)
		}
	}
}
