package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
)

// TestMeasureAgainstRtpengine runs both load loops briefly: cycles complete
// and none fails. (No speed assertion: speed is what the tool reports.)
func TestMeasureAgainstRtpengine(t *testing.T) {
	_, o := daemon.RtpengineTB(t, daemon.Options{PortMin: 25200, PortMax: 25599})
	for name, fn := range map[string]func(context.Context, string, int, time.Duration, time.Duration, string) (result, error){
		"ngproto": measure, "lean": measureLean} {
		r, err := fn(context.Background(), o.NG, 2, 50*time.Millisecond, 300*time.Millisecond, name[:1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Cycles == 0 || r.Errors != 0 {
			t.Fatalf("%s: cycles %d errors %d (first: %s)", name, r.Cycles, r.Errors, r.FirstErr)
		}
		if r.P50 <= 0 || r.P99 < r.P50 {
			t.Fatalf("%s: percentiles p50 %v p99 %v", name, r.P50, r.P99)
		}
	}
}

// TestLeanCountsErrors: a reply that is not "ok" is an error, not a cycle.
func TestLeanCountsErrors(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			cookie, _, _ := bytes.Cut(buf[:n], []byte(" "))
			reply := append(cookie, " d6:result5:error12:error-reason4:nopee"...)
			_, _ = pc.WriteTo(reply, from)
		}
	}()
	r, err := measureLean(context.Background(), pc.LocalAddr().String(), 2, 0, 200*time.Millisecond, "e")
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 0 || r.Errors == 0 || !strings.Contains(r.FirstErr, "nope") {
		t.Fatalf("cycles %d errors %d first %q", r.Cycles, r.Errors, r.FirstErr)
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
