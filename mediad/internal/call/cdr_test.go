package call

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineLog keeps each Write as one line.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// terminations returns the call-id and both parties' termination reason
// of each CDR written so far, and forgets them.
func (l *lineLog) terminations(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	re := regexp.MustCompile(`^ci=([^,]+), .*ml0_termination=(\w+), .*ml1_termination=(\w+), `)
	var out []string
	for _, s := range l.lines {
		m := re.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("CDR %q", s)
		}
		out = append(out, strings.Join(m[1:], " "))
	}
	l.lines = nil
	return out
}

// TestCDRTermination checks the termination reason each way a call ends
// gives its parties in the CDR (the e2e test compares the whole line
// with rtpengine's for a delete, the CLI's terminate and a timeout).
func TestCDRTermination(t *testing.T) {
	log := &lineLog{}
	r, _ := newRelayReg(t, Config{Timeout: time.Minute, SilentTimeout: time.Hour, FinalTimeout: 3 * time.Hour, CDRLog: log})
	check := func(step string, want ...string) {
		t.Helper()
		if got := log.terminations(t); strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s: CDRs %q, want %q", step, got, want)
		}
	}
	setupRelayCall(t, r, "deleted", newPhone(t), newPhone(t), nil)
	if _, err := r.Delete(DeleteParams{CallID: "deleted", FromTag: "a", ToTag: "b"}); err != nil {
		t.Fatal(err)
	}
	check("delete of the dialogue", "deleted REGULAR REGULAR")

	for _, id := range []string{"silent", "final"} {
		a, b := newPhone(t), newPhone(t)
		if _, err := r.Offer(&Params{CallID: id, FromTag: "a", SDP: a.sdp("inactive")}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Answer(&Params{CallID: id, FromTag: "a", ToTag: "b", SDP: b.sdp("inactive")}); err != nil {
			t.Fatal(err)
		}
	}
	setupRelayCall(t, r, "quiet", newPhone(t), newPhone(t), nil)
	now := time.Now()
	r.sweep(now.Add(30 * time.Minute))
	check("media timeout", "quiet TIMEOUT TIMEOUT")
	if _, err := r.Query("silent", "", ""); err != nil {
		t.Fatal(err)
	}
	// The final timeout comes before the silent one, for the call that
	// was signalled later.
	r.calls["final"].created = now.Add(-2*time.Hour - 15*time.Minute)
	r.sweep(now.Add(50 * time.Minute))
	check("final timeout", "final FINAL_TIMEOUT FINAL_TIMEOUT")
	r.sweep(now.Add(2 * time.Hour))
	check("silent timeout", "silent SILENT_TIMEOUT SILENT_TIMEOUT")

	setupRelayCall(t, r, "forced", newPhone(t), newPhone(t), nil)
	r.Close()
	check("shutdown", "forced FORCED FORCED")
}

func TestCDRTime(t *testing.T) {
	for us, want := range map[int64]string{1796297782493011: "1796297782.493011", 5: "0.000005", 0: "0.000000", 2_000_000: "2.000000"} {
		if got := string(cdrTime([]byte("x="), us)); got != "x="+want {
			t.Errorf("cdrTime(%d) = %q, want x=%s", us, got, want)
		}
	}
}
