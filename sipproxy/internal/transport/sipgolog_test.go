package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestSipgoLog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		stats := &Stats{}
		h := SipgoLog{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}), Stats: stats}
		log := slog.New(h).With("component", "sipgo")
		log.Warn("WS ref went negative", "ref", -1)
		log.Warn("TCP ref went negative", "ref", -1)
		log.Warn("UDP ref went negative on try close", "ref", -1)
		log.Error("failed to parse", "error", "bad start line")
		log.Debug("parse detail") // below warn: not a drop
		out := buf.String()
		if got := stats.ParseFailed.Load(); got != 1 {
			t.Errorf("level %v: ParseFailed = %d, want 1", level, got)
		}
		if !strings.Contains(out, `level=WARN msg="UDP ref went negative on try close"`) {
			t.Errorf("level %v: other warnings must pass unchanged:\n%s", level, out)
		}
		if !strings.Contains(out, `level=ERROR msg="failed to parse"`) || !strings.Contains(out, "component=sipgo") {
			t.Errorf("level %v: the parse error or the attributes are missing:\n%s", level, out)
		}
		for _, m := range []string{"WS ref went negative", "TCP ref went negative"} {
			want := level == slog.LevelDebug
			if got := strings.Contains(out, `level=DEBUG msg="`+m+`"`); got != want {
				t.Errorf("level %v: %q at debug: %v, want %v:\n%s", level, m, got, want, out)
			}
			if strings.Contains(out, `level=WARN msg="`+m+`"`) {
				t.Errorf("level %v: %q still a warning:\n%s", level, m, out)
			}
		}
	}
}
