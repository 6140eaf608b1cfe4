package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
)

// TestMeasureAgainstRtpengine runs the load loop briefly: cycles complete
// and none fails. (No speed assertion: speed is what the tool reports.)
func TestMeasureAgainstRtpengine(t *testing.T) {
	_, o := daemon.RtpengineTB(t, daemon.Options{PortMin: 25200, PortMax: 25599})
	r, err := measure(context.Background(), o.NG, 2, 50*time.Millisecond, 300*time.Millisecond, "t")
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles == 0 || r.Errors != 0 {
		t.Fatalf("cycles %d errors %d (first: %s)", r.Cycles, r.Errors, r.FirstErr)
	}
	if r.P50 <= 0 || r.P99 < r.P50 {
		t.Fatalf("percentiles p50 %v p99 %v", r.P50, r.P99)
	}
}

// TestRunReportsMissingDaemon checks that a daemon that cannot start is
// reported and makes the run fail, while the other is still measured.
func TestRunReportsMissingDaemon(t *testing.T) {
	if !daemon.HaveRtpengine() {
		t.Skipf("skipping: %s is not installed", daemon.RtpenginePath)
	}
	var out bytes.Buffer
	cfg := config{
		duration: 200 * time.Millisecond, warmup: 10 * time.Millisecond,
		clients: []int{1}, mediad: "/bin/false", rtpe: daemon.RtpenginePath, logLevel: 3,
	}
	err := run(context.Background(), cfg, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatalf("run succeeded without mediad:\n%s", out.String())
	}
	s := out.String()
	if !strings.Contains(s, "mediad not measured") || !strings.Contains(s, "rtpengine ") {
		t.Fatalf("unexpected report:\n%s", s)
	}
}
