package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto"
	"sipmedia/ngproto/logbuf"
	"sipmedia/ngproto/testport"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"--help"}, 0, "--listen-ng", ""},
		{[]string{"-h"}, 0, "Accepted for compatibility", ""},
		{[]string{"--version"}, 0, "", "Version: mediad"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--no-such-option"}, 1, "", "unknown option --no-such-option"},
		{[]string{"--config-file=none", "-n", "1"}, 1, "", "missing option --interface"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--log-facility=bogus"}, 1, "",
			"invalid log facility 'bogus' (--log-facility); available facilities: auth authpriv cron daemon"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--log-facility-cdr=local9"}, 1, "",
			"invalid log facility 'local9' (--log-facility-cdr); available facilities: auth"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--log-facility-dtmf=x"}, 1, "",
			"invalid log facility 'x' (--log-facility-dtmf)"},
		{[]string{"ctl"}, 1, "mediad ctl", ""},
		{[]string{"ctl", "-bogus", "list"}, 1, "", "Unknown option: bogus"},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		code := run(tc.args, &out, &errs)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errs.String(), tc.errs) {
			t.Errorf("run(%q) = %d\nstdout %q\nstderr %q", tc.args, code, out.String(), errs.String())
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds cmd/mediad once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mediad-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mediad")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestBinaryLifecycle builds the real binary, starts it with the command
// line of rtpengine's test suite (plus a pidfile and loopback addresses),
// pings it over NG, queries the CLI with rtpengine-ctl and `mediad ctl`,
// then sends SIGTERM and expects a clean exit with the pidfile removed.
func TestBinaryLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	ng, cliPort := testport.Get(t), testport.Get(t)
	pidfile := filepath.Join(dir, "mediad.pid")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-i", "::1",
		"-n", fmt.Sprintf("127.0.0.1:%d", ng), "-c", fmt.Sprintf("127.0.0.1:%d", cliPort), "-f", "-L", "7", "-E",
		"-l", "2222", "--silence-detect=0.05", "-p", pidfile, "-m", "41000", "-M", "41999")
	var stderr logbuf.Buffer
	cmd.Stderr = &stderr
	// Debian's unit runs rtpengine with Type=notify: mediad must say READY=1.
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	client, err := ngproto.Dial(fmt.Sprintf("127.0.0.1:%d", ng), ngproto.ClientConfig{Retries: 20, Interval: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	reply, err := client.Do(ctx, ngproto.Dict{"command": "ping"})
	if err != nil || reply.Str("result") != "pong" {
		t.Fatalf("ping: %v %v\nlog:\n%s", reply, err, stderr.String())
	}
	pid, err := os.ReadFile(pidfile)
	if err != nil || strings.TrimSpace(string(pid)) != fmt.Sprint(cmd.Process.Pid) {
		t.Errorf("pidfile %q (%v), pid %d", pid, err, cmd.Process.Pid)
	}

	_ = notify.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "READY=1\n" {
		t.Errorf("sd_notify: %q %v", buf[:n], err)
	}

	cliAddr := fmt.Sprintf("127.0.0.1:%d", cliPort)
	var out, errs bytes.Buffer
	if code := run([]string{"ctl", "-ip", cliAddr, "list", "numsessions"}, &out, &errs); code != 0 ||
		!strings.HasPrefix(out.String(), "Current sessions own: 0\n") {
		t.Errorf("mediad ctl: %d %q %q", code, out.String(), errs.String())
	}
	if ctl, err := exec.LookPath("rtpengine-ctl"); err == nil {
		got, err := exec.CommandContext(ctx, ctl, "-ip", "127.0.0.1", "-port", fmt.Sprint(cliPort), "list", "timeout").Output()
		if err != nil || string(got) != "TIMEOUT=60\n" {
			t.Errorf("rtpengine-ctl list timeout: %q %v", got, err)
		}
		got, _ = exec.CommandContext(ctx, ctl, "-ip", "127.0.0.1", "-port", fmt.Sprint(cliPort), "list", "sessions", "all").Output()
		if string(got) != "No sessions on this media relay.\n" {
			t.Errorf("rtpengine-ctl list sessions all: %q", got)
		}
	} else {
		t.Log("rtpengine-ctl not installed; skipped that part:", err)
	}

	// SIGHUP is ignored; SIGUSR1 lowers the log level, SIGUSR2 raises it.
	// (Signals sent back to back may merge, so wait for each effect.)
	level := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			out.Reset()
			run([]string{"ctl", "-ip", cliAddr, "list", "loglevel", "core"}, &out, &errs)
			if out.String() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("log level %q, want %q", out.String(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, step := range []struct {
		sig  syscall.Signal
		want string
	}{{syscall.SIGHUP, "7\n"}, {syscall.SIGUSR1, "6\n"}, {syscall.SIGUSR1, "5\n"}, {syscall.SIGUSR2, "6\n"}} {
		if err := cmd.Process.Signal(step.sig); err != nil {
			t.Fatal(err)
		}
		level(step.want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\nlog:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit 10s after SIGTERM\nlog:\n%s", stderr.String())
	}
	_ = notify.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "STOPPING=1\n" {
		t.Errorf("sd_notify at stop: %q %v", buf[:n], err)
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile still there after exit: %v", err)
	}
	log := stderr.String()
	for _, want := range []string{"--listen-tcp --silence-detect", "Startup complete", "Shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "not implemented by mediad") != 1 {
		t.Errorf("want exactly one warning naming the unimplemented options:\n%s", log)
	}
	// The listeners are closed: the NG port can be bound again.
	if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", ng)); err != nil {
		t.Errorf("NG port still bound: %v", err)
	} else {
		u.Close()
	}
}
