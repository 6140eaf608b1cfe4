package e2e

import (
	"context"
	"runtime"
	"sipmedia/ngproto"
	"testing"
	"time"
)

// TestLoadLimits compares rtpengine's --max-bandwidth and --max-cpu with
// mediad's: past a limit a new call is refused (result "load limit"
// naming it for a proxy that supports that, the legacy error otherwise)
// while calls already there go on; under it again, new calls are taken.
func TestLoadLimits(t *testing.T) {
	t.Run("bandwidth", func(t *testing.T) {
		onBothDaemons(t, []string{"--max-bandwidth=2000"}, func(t *testing.T, name, ng string) {
			a, b := newBlockCall(t, ng, "bw-1", nil)
			// About 10 kB/s both ways for 2.5 s: every per-second figure
			// is past 2000 bytes.
			for range 50 {
				a.send(t)
				b.send(t)
				time.Sleep(50 * time.Millisecond)
			}
			checkRefused(t, ng, "bw-2", a, "Bandwidth limit exceeded")
			// The call in progress renegotiates.
			if r := ngDo(t, ng, offer("bw-1", a.tag, a.sdp(1), kv{"to-tag": b.tag})); r.Str("result") != "ok" {
				t.Errorf("re-offer of the call in progress: %v", r)
			}
			// Quiet again: after a full second without media the figure
			// falls and a new call is taken.
			deadline := time.Now().Add(5 * time.Second)
			for {
				r := ngDo(t, ng, offer("bw-3", a.tag, a.sdp(1), nil))
				if r.Str("result") == "ok" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a new call still refused 5 s after the media stopped: %v", r)
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	})
	t.Run("cpu", func(t *testing.T) {
		// Every core busy until both daemons have checked (Cleanup runs
		// after the parallel subtests; a deferred cancel would run before
		// them): each has sampled twice under load by then.
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		for range runtime.NumCPU() {
			go func() {
				for ctx.Err() == nil {
				}
			}()
		}
		onBothDaemons(t, []string{"--max-cpu=1"}, func(t *testing.T, name, ng string) {
			time.Sleep(1200 * time.Millisecond)
			checkRefused(t, ng, "cpu-1", newBlockParty(t, "ta", 0x1111), "CPU usage limit exceeded")
		})
	})
}

// checkRefused offers a new call twice, with and without supports "load
// limit", and checks both refusals.
func checkRefused(t *testing.T, ng, callID string, a *blockParty, why string) {
	t.Helper()
	r := ngDo(t, ng, offer(callID, a.tag, a.sdp(1), kv{"supports": []string{"load limit"}}))
	if r.Str("result") != "load limit" || r.Str("message") != why {
		t.Errorf("new call with supports load limit: %v, want result load limit, message %q", r, why)
	}
	r = ngDo(t, ng, offer(callID, a.tag, a.sdp(1), nil))
	if r.Str("result") != "error" || r.Str("error-reason") != ngproto.ReasonSessionLimit {
		t.Errorf("new call: %v, want error %q", r, ngproto.ReasonSessionLimit)
	}
}
