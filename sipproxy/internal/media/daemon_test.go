package media

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// The tests drive real daemons: mediad built from this workspace (once per
// test binary) and Debian's rtpengine when installed.

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

func mediadBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("MEDIAD_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "media-test-mediad")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "mediad")
		cmd := exec.Command("go", "build", "-o", buildBin, "sipmedia/mediad/cmd/mediad")
		cmd.Dir = workspaceRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build mediad: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func workspaceRoot(t *testing.T) string {
	d, _ := filepath.Abs(".")
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("no go.work above the test directory")
		}
		d = up
	}
}

var portBase struct {
	sync.Mutex
	next int
}

// mediaRange hands every daemon of this test binary its own port range.
func mediaRange() (int, int) {
	portBase.Lock()
	defer portBase.Unlock()
	if portBase.next == 0 {
		portBase.next = 52000 + (os.Getpid()%35)*200
	}
	lo := portBase.next
	portBase.next += 100
	return lo, lo + 99
}

// startDaemon runs "mediad" or "rtpengine" on loopback and returns its NG
// address; it is stopped when the test ends.
func startDaemon(t *testing.T, kind string) string {
	t.Helper()
	path := "/usr/bin/rtpengine"
	if kind == "mediad" {
		path = mediadBinary(t)
	} else if _, err := os.Stat(path); err != nil {
		t.Skipf("skipping: %s not installed", path)
	}
	ng := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Get(t)))
	cli := net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Get(t)))
	lo, hi := mediaRange()
	args := []string{"--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-n", ng, "-c", cli,
		"-f", "-E", "-L", "4", "--delete-delay=0", "-m", strconv.Itoa(lo), "-M", strconv.Itoa(hi)}
	var out bytes.Buffer
	var outMu sync.Mutex
	cmd := exec.Command(path, args...)
	w := writerFunc(func(p []byte) (int, error) { outMu.Lock(); defer outMu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			outMu.Lock()
			t.Logf("%s output:\n%s", kind, out.String())
			outMu.Unlock()
		}
	})
	c, err := ngproto.Dial(ng, ngproto.ClientConfig{Retries: 1, Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := c.Ping(context.Background()); err == nil {
			return ng
		}
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", kind, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer ping on %s", kind, ng)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
