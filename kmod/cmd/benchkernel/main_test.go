package main

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sipmedia/kmod/nettopo"
)

// TestMain lets the test binary act as the relay child that runOne starts.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A small run in both modes: the harness works and the kernel mode really
// bypasses the relay.
func TestSmallRun(t *testing.T) {
	if why := nettopo.CanRun(); why != "" {
		t.Skip("benchkernel: " + why)
	}
	opt := options{pps: 50, duration: 600 * time.Millisecond, settle: 200 * time.Millisecond, payload: 172}
	log := slog.New(slog.DiscardHandler)
	for _, mode := range []string{"direct", "user", "kernel"} {
		res, err := runOne(opt, mode, 20, log)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.sent == 0 || res.misrouted != 0 || res.delivered != res.sent {
			t.Fatalf("%s: sent %d delivered %d misrouted %d", mode, res.sent, res.delivered, res.misrouted)
		}
		switch mode {
		case "direct":
			if res.relayReads != 0 || res.delivered == 0 {
				t.Errorf("direct: relay reads %d, delivered %d", res.relayReads, res.delivered)
			}
		case "user":
			if res.relayReads == 0 || res.kernPkt != 0 {
				t.Errorf("user: relay reads %d, kernel packets %d", res.relayReads, res.kernPkt)
			}
		case "kernel":
			if res.relayReads != 0 || res.kernPkt != res.sent || res.delivered != res.sent {
				t.Errorf("kernel: relay reads %d, kernel packets %d, delivered %d of %d",
					res.relayReads, res.kernPkt, res.delivered, res.sent)
			}
		}
	}
}

// The same with the real mediad (built here): userspace reads every
// packet, the kernel mode none, and both deliver.
func TestSmallRunMediad(t *testing.T) {
	if why := nettopo.CanRun(); why != "" {
		t.Skip("benchkernel: " + why)
	}
	bin := filepath.Join(t.TempDir(), "mediad")
	if out, err := exec.Command("go", "build", "-o", bin, "sipmedia/mediad/cmd/mediad").CombinedOutput(); err != nil {
		t.Skipf("benchkernel: cannot build mediad: %v\n%s", err, out)
	}
	opt := options{pps: 50, duration: 600 * time.Millisecond, settle: 200 * time.Millisecond, payload: 172, mediad: bin}
	log := slog.New(slog.DiscardHandler)
	for _, mode := range []string{"user", "kernel"} {
		res, err := runOne(opt, mode, 10, log)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.sent == 0 || res.misrouted != 0 || res.delivered == 0 {
			t.Fatalf("%s: sent %d delivered %d misrouted %d", mode, res.sent, res.delivered, res.misrouted)
		}
		switch mode {
		case "user":
			if res.relayReads < res.delivered || res.kernPkt != 0 {
				t.Errorf("user: relay reads %d, kernel packets %d, delivered %d", res.relayReads, res.kernPkt, res.delivered)
			}
		case "kernel":
			if res.relayReads != 0 || res.kernPkt < res.delivered {
				t.Errorf("kernel: relay reads %d, kernel packets %d, delivered %d", res.relayReads, res.kernPkt, res.delivered)
			}
		}
	}
}

// The search doubles to the first failure, then bisects to the resolution.
func TestSearchCeiling(t *testing.T) {
	for _, tc := range []struct {
		limit, want int // highest passing call count; expected ceiling (0: none)
		max         int
	}{
		{limit: 2345, want: 2310, max: 12000},
		{limit: 700, want: 700, max: 12000}, // below the start: halves first
		{limit: 20, want: 0, max: 12000},
		{limit: 50000, want: 12000, max: 12000},
	} {
		var steps []int
		c, err := searchCeiling(rampOptions{start: 1000, max: tc.max, res: 0.05}, func(n int) (result, bool, error) {
			steps = append(steps, n)
			return result{mode: "x", calls: n}, n <= tc.limit, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if c.best != nil {
			got = c.best.calls
		}
		lo, hi := tc.want, tc.want+max(50, tc.want/20)
		if got < lo-max(50, tc.want/20) || got > hi || got > tc.limit {
			t.Errorf("limit %d: ceiling %d (steps %v), want about %d", tc.limit, got, steps, tc.want)
		}
		if len(steps) > 12 {
			t.Errorf("limit %d: %d steps: %v", tc.limit, len(steps), steps)
		}
	}
}

// Frames carry valid IPv4 header and UDP checksums.
func TestFrameChecksums(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, payload := range []int{9, 172, 173} {
		f := udpFrame(mac, mac, netip.MustParseAddrPort("198.18.1.2:50000"), netip.MustParseAddrPort("198.18.1.1:20002"), payload)
		f[len(f)-1] = 0xab
		finishUDP(f)
		if got := csumAdd(0, f[14:34]); got != 0xffff {
			t.Errorf("payload %d: IP header sums to %#x", payload, got)
		}
		var pseudo [12]byte
		copy(pseudo[:8], f[26:34])
		pseudo[9] = 17
		pseudo[10], pseudo[11] = byte((len(f)-34)>>8), byte(len(f)-34)
		if got := csumAdd(csumAdd(0, pseudo[:]), f[34:]); got != 0xffff {
			t.Errorf("payload %d: UDP sums to %#x", payload, got)
		}
	}
}
