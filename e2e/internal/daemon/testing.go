package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"sipmedia/ngproto/testport"
)

// StartTB starts spec and stops it when the test ends; it fails the test if
// the daemon does not come up. The daemon's output is logged on failure.
func StartTB(tb testing.TB, spec Spec) *Process {
	tb.Helper()
	p, err := Start(context.Background(), spec)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			tb.Logf("%s output (tail):\n%s", spec.Name, p.Output())
		}
	})
	return p
}

// RtpengineTB starts Debian's rtpengine with opts (free NG/CLI ports are
// picked when opts leaves them empty), or skips the test with a printed
// reason when it is not installed.
func RtpengineTB(tb testing.TB, opts Options) (*Process, Options) {
	tb.Helper()
	if !HaveRtpengine() {
		tb.Skipf("skipping: %s is not installed (apt-get install rtpengine-daemon)", RtpenginePath)
	}
	opts = withAddrs(tb, opts)
	return StartTB(tb, opts.wrapTB(tb, Spec{Name: "rtpengine", Path: RtpenginePath, Args: opts.Args(), NGAddr: opts.NG})), opts
}

// MediadTB starts mediad with opts. The binary is $MEDIAD_BIN if set,
// otherwise it is built into the test's temporary directory from the
// workspace, so the test always runs the current source.
func MediadTB(tb testing.TB, opts Options) (*Process, Options) {
	tb.Helper()
	bin := MediadBinaryTB(tb)
	opts = withAddrs(tb, opts)
	return StartTB(tb, opts.wrapTB(tb, Spec{Name: "mediad", Path: bin, Args: opts.Args(), NGAddr: opts.NG})), opts
}

// ByNameTB starts the daemon name says ("rtpengine" or "mediad") with
// opts, as RtpengineTB or MediadTB: for tests that run a case on both.
func ByNameTB(tb testing.TB, name string, opts Options) (*Process, Options) {
	tb.Helper()
	if name == "rtpengine" {
		return RtpengineTB(tb, opts)
	}
	return MediadTB(tb, opts)
}

// built is the mediad binary MediadBinaryTB built for this test process.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// MediadBinaryTB returns a mediad binary built from the current workspace
// (or $MEDIAD_BIN), once per test process, so the tests always run the
// current source: linking it for every test (race-instrumented in make
// test's second pass) took CPU that the parallel tests' timing needed.
// A package's TestMain calls RemoveBuilt at the end.
func MediadBinaryTB(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv("MEDIAD_BIN"); b != "" {
		return b
	}
	built.once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			built.err = fmt.Errorf("getwd: %w", err)
			return
		}
		if built.dir, err = os.MkdirTemp("", "e2e-mediad-"); err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(built.dir, "mediad")
		built.err = BuildMediad(context.Background(), wd, built.bin)
	})
	if built.err != nil {
		tb.Fatalf("%v", built.err)
	}
	return built.bin
}

// RemoveBuilt removes the binary MediadBinaryTB built, if any.
func RemoveBuilt() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// wrapTB is Options.wrap for a test: the host's /dev is bound under the
// test's temporary directory.
func (o Options) wrapTB(tb testing.TB, spec Spec) Spec {
	tb.Helper()
	if o.DevLog == "" {
		return spec
	}
	if os.Geteuid() != 0 {
		tb.Skip("a /dev/log of the test's own needs root (mount namespace)")
	}
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "hostdev"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return o.wrap(spec, dir)
}

func withAddrs(tb testing.TB, o Options) Options {
	tb.Helper()
	if o.NG == "" || o.CLI == "" {
		ng, cli, err := testport.FreeAddrs()
		if err != nil {
			tb.Fatalf("%v", err)
		}
		if o.NG == "" {
			o.NG = ng
		}
		if o.CLI == "" {
			o.CLI = cli
		}
	}
	return o
}
