package daemon

import (
	"context"
	"runtime"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

func TestRtpengineStartPingStop(t *testing.T) {
	before := runtime.NumGoroutine()
	p, o := RtpengineTB(t, Options{PortMin: 25000, PortMax: 25099})
	if err := Ping(context.Background(), o.NG, time.Second); err != nil {
		t.Fatalf("ping: %v", err)
	}
	p.Stop()
	if gone, _ := p.Exited(); !gone {
		t.Fatalf("process still running after Stop")
	}
	if err := Ping(context.Background(), o.NG, 200*time.Millisecond); err == nil {
		t.Fatalf("ping answered after Stop")
	}
	p.Stop() // idempotent
	// The process's wait goroutine must be gone once Stop returned.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after Stop", before, n)
	}
}

func TestStartFailsForDeadDaemon(t *testing.T) {
	ng, _, err := testport.FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Spec{Name: "false", Path: "/bin/false", NGAddr: ng, StartTimeout: 2 * time.Second})
	if err == nil {
		t.Fatalf("Start succeeded for a process that never answers")
	}
}

func TestReadyCheckReplacesPing(t *testing.T) {
	if !HaveRtpengine() {
		t.Skipf("skipping: %s is not installed", RtpenginePath)
	}
	// rtpengine's CLI port is TCP: readiness by TCP connect, no NG ping.
	ng, cli, err := testport.FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{NG: ng, CLI: cli, PortMin: 25100, PortMax: 25199}
	p := StartTB(t, Spec{Name: "rtpengine", Path: RtpenginePath, Args: o.Args(), Ready: TCPReady(cli)})
	if gone, _ := p.Exited(); gone {
		t.Fatalf("exited")
	}
	if err := TCPReady(cli)(context.Background()); err != nil {
		t.Fatalf("CLI port not accepting: %v", err)
	}
}
