package main

import (
	"log/slog"
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
	opt := options{pps: 50, duration: 600 * time.Millisecond, payload: 172}
	log := slog.New(slog.DiscardHandler)
	for _, mode := range []string{"direct", "user", "kernel"} {
		res, err := runOne(opt, mode, 20, log)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.sent == 0 || res.misrouted != 0 {
			t.Fatalf("%s: sent %d misrouted %d", mode, res.sent, res.misrouted)
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
	opt := options{pps: 50, duration: 600 * time.Millisecond, payload: 172, mediad: bin}
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
