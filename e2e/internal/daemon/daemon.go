// Package daemon starts and stops the NG daemons the e2e tests and tools
// talk to (Debian's rtpengine, bin/mediad): it picks free loopback ports,
// builds mediad when needed, waits until the daemon answers an NG ping and
// kills the process (and only that process) on Stop.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// RtpenginePath is where Debian installs rtpengine.
const RtpenginePath = "/usr/bin/rtpengine"

// Spec says how to run one daemon.
type Spec struct {
	Name   string   // for messages ("rtpengine", "mediad")
	Path   string   // executable
	Args   []string // command line, without the executable
	NGAddr string   // host:port of the NG UDP listener, polled with ping
	// Ready, when set, replaces the NG ping as the readiness check (for
	// daemons without an NG listener, e.g. sipproxy: see TCPReady). It is
	// called repeatedly until it returns nil.
	Ready func(ctx context.Context) error
	// Output receives the daemon's stdout and stderr; nil keeps the last
	// 64 KiB in memory for Output().
	Output io.Writer
	// StartTimeout bounds the wait for the first pong (default 15 s).
	StartTimeout time.Duration
}

// Options are the command-line options the tests give both daemons, the
// way rtpengine's own test suite starts it (userspace only, loopback
// interfaces, foreground, logs on stderr, no delete delay).
type Options struct {
	NG, CLI          string // host:port
	PortMin, PortMax int
	LogLevel         int // default 3
	// Interfaces are the media addresses (-i); default 127.0.0.1 and ::1.
	Interfaces []string
	Extra      []string
	// DevLog, when set, is a unixgram socket that the daemon sees as
	// /dev/log (its syslog): it then runs in a mount namespace of its own
	// with a /dev holding only that and the usual character devices.
	DevLog string
	// Syslog leaves -E out: the daemon logs to syslog (DevLog's socket),
	// warnings and worse to stderr too.
	Syslog bool
}

// Args renders the options in rtpengine's syntax (mediad accepts the same).
func (o Options) Args() []string {
	ll := o.LogLevel
	if ll == 0 {
		ll = 3
	}
	a := []string{"--config-file=none", "-t", "-1"}
	ifs := o.Interfaces
	if len(ifs) == 0 {
		ifs = []string{"127.0.0.1", "::1"}
	}
	for _, i := range ifs {
		a = append(a, "-i", i)
	}
	a = append(a, "-n", o.NG, "-c", o.CLI, "-f")
	if !o.Syslog {
		a = append(a, "-E")
	}
	a = append(a, "-L", strconv.Itoa(ll),
		"--delete-delay=0",
		"-m", strconv.Itoa(o.PortMin), "-M", strconv.Itoa(o.PortMax),
	)
	return append(a, o.Extra...)
}

// wrap runs spec through unshare when o.DevLog asks for a /dev/log of
// its own. The daemon stays the process Start sees (unshare and sh exec
// it), so Stop's signals reach it.
func (o Options) wrap(spec Spec, tmp string) Spec {
	if o.DevLog == "" {
		return spec
	}
	// The host's /dev is bound aside first: a tmpfs hides it, and the
	// daemons need null, zero and the random devices.
	const script = `set -e; old=$1; sock=$2; shift 2
mount --rbind /dev "$old"
mount -t tmpfs none /dev
for n in null zero random urandom; do touch /dev/$n; mount --bind "$old/$n" /dev/$n; done
ln -s "$sock" /dev/log
exec "$@"`
	old := filepath.Join(tmp, "hostdev")
	args := []string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", old, o.DevLog, spec.Path}
	spec.Args = append(args, spec.Args...)
	spec.Path = "unshare"
	return spec
}

// Process is a running daemon.
type Process struct {
	Spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, valid after done is closed
	out  *tailBuffer

	stopOnce sync.Once
}

// Start launches the daemon and waits until it answers an NG ping on
// spec.NGAddr. On any error the process is already stopped.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 15 * time.Second
	}
	p := &Process{Spec: spec, done: make(chan struct{}), out: &tailBuffer{max: 64 << 10}}
	var w io.Writer = p.out
	if spec.Output != nil {
		w = io.MultiWriter(p.out, spec.Output)
	}
	// Not exec.CommandContext: the caller's ctx bounds the start, Stop ends
	// the process; a cancelled test context must not SIGKILL before Stop's
	// SIGTERM lets the daemon shut down cleanly.
	p.cmd = exec.Command(spec.Path, spec.Args...)
	p.cmd.Stdout = w
	p.cmd.Stderr = w
	// Own process group so that Stop can never signal anything else.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	wctx, cancel := context.WithTimeout(ctx, spec.StartTimeout)
	defer cancel()
	if err := p.waitPing(wctx); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s did not become ready (NG %s): %w; output:\n%s", spec.Name, spec.NGAddr, err, p.Output())
	}
	return p, nil
}

func (p *Process) waitPing(ctx context.Context) error {
	for {
		var err error
		if p.Spec.Ready != nil {
			err = p.Spec.Ready(ctx)
		} else {
			err = Ping(ctx, p.Spec.NGAddr, 200*time.Millisecond)
		}
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Exited reports whether the process has ended, and its Wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns the tail of what the daemon wrote.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM, waits up to 5 s, then SIGKILLs the process group.
// It is safe to call more than once.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Ping sends one NG ping to addr and waits for the pong. It speaks the
// wire format directly so that it works before any client library.
func Ping(ctx context.Context, addr string, timeout time.Duration) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.SetDeadline(dl)
	cookie := "ping" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := c.Write([]byte(cookie + " d7:command4:pinge")); err != nil {
		return fmt.Errorf("send ping: %w", err)
	}
	buf := make([]byte, 2048)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("read pong: %w", err)
		}
		if !bytes.HasPrefix(buf[:n], []byte(cookie+" ")) {
			continue
		}
		if !bytes.Contains(buf[:n], []byte("4:pong")) {
			return fmt.Errorf("unexpected reply %q", buf[:n])
		}
		return nil
	}
}

// TCPReady returns a readiness check that succeeds once addr accepts a
// TCP connection.
func TCPReady(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		c, err := d.DialContext(dctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HaveRtpengine reports whether Debian's rtpengine is installed.
func HaveRtpengine() bool {
	st, err := os.Stat(RtpenginePath)
	return err == nil && !st.IsDir()
}

// WorkspaceRoot finds the directory holding go.work, starting at dir and
// walking up.
func WorkspaceRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("workspace root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("workspace root: no go.work above " + dir)
		}
		d = up
	}
}

// BuildMediad compiles sipmedia/mediad/cmd/mediad into out, from the
// workspace that contains dir.
func BuildMediad(ctx context.Context, dir, out string) error {
	root, err := WorkspaceRoot(dir)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "sipmedia/mediad/cmd/mediad")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build mediad: %w\n%s", err, b)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
