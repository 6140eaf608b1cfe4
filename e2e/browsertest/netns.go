// Package browsertest is the harness shared by the tests that drive a real
// headless Chromium: the re-run of a test inside a network namespace of its
// own (Chromium gathers no ICE candidates on loopback, so the namespace gets
// a veth pair with VethAddr), the prerequisite checks, the web directory
// (e2e/web: the pages and run-page.mjs, the playwright-core driver with a
// fake microphone), serving a page and running it, and a plain PCMU phone
// for the non-browser side of a call.
//
// It lives in the e2e module, not in an internal directory, so that
// mediad's own WebRTC test can import it too: mediad's go.mod requires
// sipmedia/e2e (replaced by ../e2e) for its tests only. That adds no cycle
// (e2e builds mediad as a program, it never imports it), and e2e's
// requirements are a subset of mediad's, so mediad's build list does not
// change. The other way round (the package in mediad, e2e requiring
// mediad) would pull prometheus, nftables and kmod into e2e's graph.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
)

// VethAddr is the address (TEST-NET-2) of the veth end inside the test's
// namespace: Chromium's candidates carry it, and a daemon under test
// listens on it.
const VethAddr = "198.51.100.1"

// netnsEnv, set to a test's name, marks the re-run of that test inside its
// namespace.
const netnsEnv = "SIPMEDIA_BROWSER_NETNS"

// netnsFileEnv names the file the re-run writes its namespace to (the
// link /proc/self/ns/net), so that the outer run can end what the re-run
// left in it.
const netnsFileEnv = "SIPMEDIA_BROWSER_NETNS_FILE"

// Chromium is Debian's browser, the one run-page.mjs starts.
const Chromium = "/usr/bin/chromium"

// WebDir returns e2e/web of the workspace holding the working directory.
func WebDir(t testing.TB) string {
	t.Helper()
	root, err := daemon.WorkspaceRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "e2e", "web")
}

// Netns says how a test re-runs itself in a network namespace.
type Netns struct {
	// Timeout bounds the whole re-run.
	Timeout time.Duration
	// Need lists files below the web directory the test needs besides
	// playwright-core (e.g. node_modules/jssip).
	Need []string
}

// Enter runs the calling test in a network namespace of its own. Outside
// one it skips without root, fails on a missing prerequisite, re-runs just
// this test under `unshare -n`, fails unless that run passed, and returns
// false and the run's output: the caller then returns. Inside the re-run it
// sets the namespace up (loopback and a veth pair with VethAddr) and
// returns true: the caller does the real work.
func Enter(t *testing.T, n Netns) (inside bool, out string) {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		if f := os.Getenv(netnsFileEnv); f != "" {
			ns, err := os.Readlink("/proc/self/ns/net")
			if err == nil {
				err = os.WriteFile(f, []byte(ns), 0o644)
			}
			if err != nil {
				t.Fatalf("telling the outer run the namespace: %v", err)
			}
		}
		setupVeth(t)
		return true, ""
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace for Chromium")
	}
	web := WebDir(t)
	need := []string{Chromium, filepath.Join(web, "node_modules", "playwright-core")}
	for _, p := range n.Need {
		need = append(need, filepath.Join(web, p))
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing %s (run scripts/install-deps.sh): %v", p, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), n.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	nsFile := filepath.Join(t.TempDir(), "netns")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name(), netnsFileEnv+"="+nsFile)
	// Something left running may hold the output pipe.
	cmd.WaitDelay = 10 * time.Second
	b, err := cmd.CombinedOutput()
	out = string(b)
	t.Logf("in netns:\n%s", out)
	passed := err == nil && strings.Contains(out, "--- PASS: "+t.Name()+" (")
	// A re-run that died (a panic, the timeout's kill) ran no cleanup.
	if left := endLeftovers(t, nsFile); len(left) > 0 {
		if passed {
			t.Errorf("the re-run passed but left processes in its namespace: %v", left)
		} else {
			t.Logf("killed what the re-run left in its namespace: %v", left)
		}
	}
	if !passed {
		t.Fatalf("%s in netns failed: %v", t.Name(), err)
	}
	return false, out
}

// endLeftovers kills the processes in the namespace the re-run wrote to
// nsFile and returns them; never in this process's own namespace.
func endLeftovers(t *testing.T, nsFile string) []Proc {
	t.Helper()
	b, err := os.ReadFile(nsFile)
	if err != nil {
		return nil // the re-run did not get that far
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil || len(b) == 0 || string(b) == self {
		return nil
	}
	left := NetnsProcs(string(b))
	for _, p := range left {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	return left
}

// Proc is a process found by NetnsProcs.
type Proc struct {
	Pid  int
	Comm string
}

func (p Proc) String() string { return strconv.Itoa(p.Pid) + " " + p.Comm }

// NetnsProcs lists the processes, other than this one, in the network
// namespace ns (a /proc/PID/ns/net link such as "net:[4026532281]").
func NetnsProcs(ns string) []Proc {
	ents, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// Zombies have no namespace links: they are gone already.
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == ns {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			out = append(out, Proc{Pid: pid, Comm: strings.TrimSpace(string(comm))})
		}
	}
	return out
}

// setupVeth brings loopback up and adds the veth pair; an address or link
// already there (a second call in one namespace) is fine. It returns once
// the namespace's addresses and links have settled: Chromium may abort a
// navigation in flight with ERR_NETWORK_CHANGED when an address or link
// changes (CI saw it on the first page load after this setup), and a veth
// end left to itself gets an IPv6 link-local address whose duplicate
// address detection ends a second or two later (`ip monitor` shows it). So
// the ends get no generated IPv6 address (addrgenmode none) and both must
// be up.
func setupVeth(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "bt0", "type", "veth", "peer", "name", "bt1"},
		{"link", "set", "bt0", "addrgenmode", "none"},
		{"link", "set", "bt1", "addrgenmode", "none"},
		{"addr", "add", VethAddr + "/24", "dev", "bt0"},
		{"link", "set", "bt0", "up"},
		{"link", "set", "bt1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "File exists") {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		links, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").CombinedOutput()
		addrs, _ := exec.Command("ip", "-o", "addr", "show").CombinedOutput()
		if strings.Count(string(links), "state UP") == 2 && !strings.Contains(string(addrs), "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("veth pair not settled after 5 s:\n%s%s", links, addrs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
