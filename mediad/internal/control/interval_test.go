package control

import (
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/graphite"
	"sipmedia/ngproto"
)

func TestGraphiteReport(t *testing.T) {
	if len(statCommands) != len24 {
		t.Fatalf("%d statistics commands, arrays of %d", len(statCommands), len24)
	}
	reg, _ := newTestRegistry(t, 44600, 44699)
	h := NewHandler(reg, nil, nil)
	g := h.Graphite()
	now := time.Now()
	value := func(lines []graphite.Line, name string) string {
		for _, l := range lines {
			if l.Name == name {
				return l.Value
			}
		}
		t.Fatalf("no line %q", name)
		return ""
	}
	// Second 1: two offers; second 2: one; then the report.
	for _, id := range []string{"a", "b"} {
		serve(h, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "x", "sdp": testSDP})
	}
	g.Tick(now)
	serve(h, ngproto.Dict{"command": "offer", "call-id": "c", "from-tag": "x", "sdp": testSDP})
	g.Tick(now.Add(time.Second))
	r := g.Report(now.Add(time.Second))
	for name, want := range map[string]string{
		"offer_count": "3", "offers_ps_min": "1", "offers_ps_max": "2", "offers_ps_avg": "1",
		"managed_sess": "3", "managed_sess_min": "2", "managed_sess_max": "3", "current_sessions_total": "3", "delete_count": "0",
		"ports_free_default_127.0.0.1": "88", "ports_used_default_127.0.0.1": "12",
	} {
		if got := value(r, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if v := value(r, "offer_time_max"); v == "0.000000" || !strings.Contains(v, ".") {
		t.Errorf("offer_time_max %s", v)
	}
	// The next interval starts empty; the counts go on.
	serve(h, ngproto.Dict{"command": "delete", "call-id": "a"})
	r = g.Report(now.Add(2 * time.Second))
	for name, want := range map[string]string{"offer_count": "3", "offers_ps_max": "0", "offer_time_max": "0.000000",
		"delete_count": "1", "regular_term_sess": "1", "managed_sess": "0"} {
		if got := value(r, name); got != want {
			t.Errorf("second report: %s = %s, want %s", name, got, want)
		}
	}
	// The CLI and NG statistics show the last report.
	iv := NewCLICalls(reg, h).Totals().Interval
	if !iv.Reported || iv.Delay["delete"][1] <= 0 {
		t.Errorf("interval %+v", iv)
	}
}
