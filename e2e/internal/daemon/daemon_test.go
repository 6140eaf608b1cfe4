package daemon

import (
	"context"
	"testing"
	"time"
)

func TestRtpengineStartPingStop(t *testing.T) {
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
}

func TestStartFailsForDeadDaemon(t *testing.T) {
	ng, _, err := FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Spec{Name: "false", Path: "/bin/false", NGAddr: ng, StartTimeout: 2 * time.Second})
	if err == nil {
		t.Fatalf("Start succeeded for a process that never answers")
	}
}
