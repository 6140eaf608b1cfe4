package daemon

import (
	"context"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
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
	ng, _, err := FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Spec{Name: "false", Path: "/bin/false", NGAddr: ng, StartTimeout: 2 * time.Second})
	if err == nil {
		t.Fatalf("Start succeeded for a process that never answers")
	}
}

func TestReadyCheckReplacesPing(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipping: python3 not installed")
	}
	port, err := FreeTCPPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// A shell that listens on TCP via bash's /dev/tcp is not possible;
	// python3's http.server is: it never answers NG, only TCP.
	p := StartTB(t, Spec{
		Name: "http", Path: "python3",
		Args:  []string{"-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(port)},
		Ready: TCPReady(addr),
	})
	if gone, _ := p.Exited(); gone {
		t.Fatalf("exited")
	}
}
