package kmod

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

const crashEnv = "KMOD_CRASH_HELPER_NETNS"

// TestCrashHelper is the child of TestCrashRecovery: it opens an Offloader
// in the named namespace, offloads one flow, says READY and waits to be
// killed. It does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	name := os.Getenv(crashEnv)
	if name == "" {
		t.Skip("helper process for TestCrashRecovery only")
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(context.Background(), Config{Table: crashTable, PortMin: testPortMin, PortMax: testPortMax, NetNS: int(ns)})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Add(Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("READY\n")
	time.Sleep(30 * time.Second) // the parent kills us long before
}

const crashTable = 5

func TestCrashRecovery(t *testing.T) {
	t.Run("open", func(t *testing.T) { testCrashRecovery(t, false) })
	t.Run("purge", func(t *testing.T) { testCrashRecovery(t, true) })
}

func testCrashRecovery(t *testing.T, purge bool) {
	topo, relay, a, b := newCall(t, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+topo.Name("r"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "READY") {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatal("helper never became ready")
	}

	// The child's flow forwards in the kernel.
	send(t, a, localA, "c", 5)
	expect(t, b, localB, "c", 5)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Crash residue: the table outlives the process.
	if !tableExists(t, topo, crashTable) {
		t.Fatal("expected the stale table after SIGKILL")
	}
	send(t, a, localA, "s", 2)
	expect(t, b, localB, "s", 2) // still forwarded by the orphan
	if n := relay.reads.Load(); n != 0 {
		t.Fatalf("relay read %d packets while the orphan table forwards", n)
	}

	// A new instance replaces the table and clears the residue (or, with
	// the kernel path disabled, Purge removes it).
	if purge {
		if err := Purge(context.Background(), Config{Table: crashTable, NetNS: int(topo.R)}); err != nil {
			t.Fatalf("Purge: %v", err)
		}
		if tableExists(t, topo, crashTable) {
			t.Fatal("table still present after Purge")
		}
	}
	o := openR(t, topo, crashTable, 0)
	if st, err := o.AllCounters(); err != nil || len(st) != 0 {
		t.Fatalf("fresh table counters %v, %v", st, err)
	}
	send(t, b, localB, "latch", 1)
	waitReads(t, relay, 1)
	send(t, a, localA, "u", 4)
	expect(t, b, localB, "u", 4) // via the relay now
	waitReads(t, relay, 5)
	if fl := portFlows(t, topo); len(fl) != 0 {
		t.Fatalf("userspace packets created %d conntrack entries after recovery", len(fl))
	}
}
