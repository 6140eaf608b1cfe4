package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// env holds the binaries, the work directory and the scenario files.
type env struct {
	cfg           config
	root, work    string
	sipproxy      string
	mediad        string
	uac, uas, reg string
	kamCfg        string
}

func newEnv(ctx context.Context, cfg config) (*env, error) {
	for _, bin := range []string{"sipp"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not installed (make deps)", bin)
		}
	}
	root, err := daemon.WorkspaceRoot(".")
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "benchcalls-")
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, root: root, work: work, sipproxy: cfg.sipproxy, mediad: cfg.mediad}
	if e.mediad == "" {
		e.mediad = filepath.Join(work, "mediad")
		if err := daemon.BuildMediad(ctx, root, e.mediad); err != nil {
			e.close()
			return nil, err
		}
	}
	if e.sipproxy == "" {
		e.sipproxy = filepath.Join(work, "sipproxy")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", e.sipproxy, "sipmedia/sipproxy/cmd/sipproxy")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			e.close()
			return nil, fmt.Errorf("build sipproxy: %w\n%s", err, b)
		}
	}
	td := filepath.Join(root, "e2e", "testdata")
	e.uas = filepath.Join(td, "sipp", "bench_uas.xml")
	e.reg = filepath.Join(td, "sipp", "bench_register.xml")
	e.kamCfg = filepath.Join(td, "kamailio", "kamailio.cfg")
	b, err := os.ReadFile(filepath.Join(td, "sipp", "bench_uac.xml"))
	if err != nil {
		e.close()
		return nil, err
	}
	e.uac = filepath.Join(work, "bench_uac.xml")
	hold := strconv.Itoa(int(cfg.hold / time.Millisecond))
	if err := os.WriteFile(e.uac, []byte(strings.ReplaceAll(string(b), "{{HOLD}}", hold)), 0o644); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.cfg.keep {
		fmt.Fprintf(os.Stderr, "benchcalls: work directory kept: %s\n", e.work)
		return
	}
	_ = os.RemoveAll(e.work)
}

func (e *env) logFile(name string) io.Writer {
	f, err := os.Create(filepath.Join(e.work, name))
	if err != nil {
		return io.Discard
	}
	return f
}

// startMedia runs the media daemon quietly on rtpengine's default port
// range (30000-40000: 5000 pairs, far more than the few hundred calls that
// are up at once at the highest rates).
func (e *env) startMedia(ctx context.Context, kind string) (*daemon.Process, string, error) {
	ng, cli, err := testport.FreeAddrs()
	if err != nil {
		return nil, "", err
	}
	opts := daemon.Options{NG: ng, CLI: cli, PortMin: 30000, PortMax: 40000, LogLevel: 1}
	path := e.mediad
	if kind == "rtpengine" {
		if !daemon.HaveRtpengine() {
			return nil, "", fmt.Errorf("%s not installed", daemon.RtpenginePath)
		}
		path = daemon.RtpenginePath
	}
	p, err := daemon.Start(ctx, daemon.Spec{Name: kind, Path: path, Args: opts.Args(), NGAddr: ng, Output: e.logFile(kind + ".log")})
	return p, ng, err
}

// startProxy runs sipproxy or Kamailio on a free port with ng as its
// media daemon.
func (e *env) startProxy(ctx context.Context, kind, ng string) (*daemon.Process, string, error) {
	port, err := testport.Free("127.0.0.1")
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var spec daemon.Spec
	switch kind {
	case "sipproxy":
		spec = daemon.Spec{Name: kind, Path: e.sipproxy, Args: []string{
			"--listen=udp:" + addr, "--listen=tcp:" + addr,
			"--domain=e2e.test", "--rtpengine-sock=udp:" + ng, "--log-level=error", "--mgmt="}}
	case "kamailio":
		b, err := os.ReadFile(e.kamCfg)
		if err != nil {
			return nil, "", err
		}
		ws, err := testport.Free("127.0.0.1")
		if err != nil {
			return nil, "", err
		}
		c := strings.NewReplacer("PORT", strconv.Itoa(port), "HTTPLISTEN", strconv.Itoa(ws), "NGSOCK", "udp:"+ng,
			"CHILDREN", strconv.Itoa(e.cfg.children)).Replace(string(b))
		path := filepath.Join(e.work, "kamailio.cfg")
		if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
			return nil, "", err
		}
		spec = daemon.Spec{Name: kind, Path: "/usr/sbin/kamailio", Args: []string{"-f", path, "-DD", "-E", "-m", "256", "-M", "32", "-Y", e.work}}
	}
	spec.Ready = daemon.TCPReady(addr)
	spec.Output = e.logFile(kind + ".log")
	p, err := daemon.Start(ctx, spec)
	return p, addr, err
}

// sippBuffer is sipp's socket buffer size. Its default, 64 KiB, is
// below the kernel's: the caller sipp, sharing two cores with the setup
// under test, dropped thousands of replies per step at 3400 calls/s
// (UdpRcvbufErrors, all on its socket), whose retransmissions then made
// the step late. The load generator must not be what fails; the kernel
// caps this at net.core.rmem_max.
const sippBuffer = "4194304"

// sippProc is a background sipp.
type sippProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (e *env) sipp(ctx context.Context, args ...string) (*sippProc, error) {
	cmd := exec.Command("sipp", args...)
	cmd.Dir = e.work
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sipp: %w", err)
	}
	p := &sippProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *sippProc) stop() {
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func freeUDP() string {
	p, err := testport.Free("127.0.0.1")
	if err != nil {
		return "0"
	}
	return strconv.Itoa(p)
}

// bench runs one setup through the rates.
func (e *env) bench(ctx context.Context, setup string, out io.Writer) (result, error) {
	pk, mk, _ := parseSetup(setup)
	res := result{setup: setup}
	media, ng, err := e.startMedia(ctx, mk)
	if err != nil {
		return res, err
	}
	defer media.Stop()
	px, addr, err := e.startProxy(ctx, pk, ng)
	if err != nil {
		return res, err
	}
	defer px.Stop()
	var uas []*sippProc
	defer func() {
		for _, u := range uas {
			u.stop()
		}
	}()
	for i := 0; i < e.cfg.pairs; i++ {
		user := "b" + strconv.Itoa(i)
		port := freeUDP()
		reg := exec.CommandContext(ctx, "sipp", "-sf", e.reg, "-s", user, "-i", "127.0.0.1", "-p", port,
			"-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error", addr)
		reg.Dir = e.work
		if b, err := reg.CombinedOutput(); err != nil {
			return res, fmt.Errorf("register %s: %w\n%s", user, err, tail(b))
		}
		u, err := e.sipp(ctx, "-sf", e.uas, "-i", "127.0.0.1", "-p", port, "-mp", freeUDP(), "-nostdin", "-bind_local", "-buff_size", sippBuffer)
		if err != nil {
			return res, err
		}
		uas = append(uas, u)
	}
	time.Sleep(300 * time.Millisecond)
	failing := 0
	for _, rate := range e.cfg.rates {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		pc0, mc0, all0, drops0 := daemon.GroupCPU(px.Pid()), daemon.GroupCPU(media.Pid()), daemon.MachineCPU(), daemon.UDPDrops()
		st, err := e.step(ctx, addr, rate)
		if err != nil {
			return res, err
		}
		st.machineCPU, st.drops = daemon.MachineCPU()-all0, daemon.UDPDrops()-drops0
		st.leftover = waitEmpty(ctx, ng, filepath.Join(e.work, fmt.Sprintf("left-%s-%d.txt", mk, rate)))
		st.proxyCPU, st.mediaCPU = daemon.GroupCPU(px.Pid())-pc0, daemon.GroupCPU(media.Pid())-mc0
		res.steps = append(res.steps, st)
		fmt.Fprintf(out, "%-22s offered %5d/s: %6d calls, %6d ok, %5d failed, %.1fs, %d left in the daemon, %d UDP drops; CPU per call: %s %.2f ms, %s %.2f ms, machine %.2f ms\n",
			setup, rate, st.calls, st.ok, st.failed, st.elapsed.Seconds(), st.leftover, st.drops,
			pk, perCall(st.proxyCPU, st.ok), mk, perCall(st.mediaCPU, st.ok), perCall(st.machineCPU, st.ok))
		slow := !rateKept(st.elapsed, e.cfg.duration, e.cfg.hold)
		if st.failed == 0 && st.leftover == 0 && !slow {
			if failing == 0 {
				res.best = rate
			}
			continue
		}
		if res.firstFail == "" {
			res.firstFail = fmt.Sprintf("%d/s: %d of %d calls failed, %d left in the daemon", rate, st.failed, st.calls, st.leftover)
			if slow {
				res.firstFail += fmt.Sprintf(", rate not kept (%.1fs for %v)", st.elapsed.Seconds(), e.cfg.duration)
			}
		}
		failing++
		if failing >= e.cfg.stopAfter {
			break
		}
	}
	return res, nil
}

// step offers rate calls/s for the configured duration, split over the
// caller/callee pairs, and counts sipp's successful and failed calls.
func (e *env) step(ctx context.Context, addr string, rate int) (step, error) {
	st := step{rate: rate}
	per := rate / e.cfg.pairs
	if per < 1 {
		per = 1
	}
	n := int(float64(per) * e.cfg.duration.Seconds())
	st.calls = n * e.cfg.pairs
	start := time.Now()
	var wg sync.WaitGroup
	counts := make([][2]int, e.cfg.pairs)
	errs := make([]error, e.cfg.pairs)
	for i := 0; i < e.cfg.pairs; i++ {
		stat := filepath.Join(e.work, fmt.Sprintf("stat-%d-%d.csv", rate, i))
		args := []string{"-sf", e.uac, "-s", "b" + strconv.Itoa(i), "-i", "127.0.0.1", "-p", freeUDP(), "-mp", freeUDP(),
			"-r", strconv.Itoa(per), "-m", strconv.Itoa(n), "-l", "10000", "-nostdin", "-buff_size", sippBuffer,
			"-recv_timeout", "10000", "-timeout", strconv.Itoa(int(e.cfg.duration.Seconds())+60) + "s",
			"-trace_stat", "-stf", stat, "-fd", "1", "-trace_err", "-error_file", filepath.Join(e.work, fmt.Sprintf("err-%d-%d.log", rate, i)),
			addr}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "sipp", args...)
			cmd.Dir = e.work
			_ = cmd.Run() // exit status 1 just means some call failed
			counts[i], errs[i] = readStat(stat)
		}(i)
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	for i, c := range counts {
		if errs[i] != nil {
			return st, errs[i]
		}
		st.ok += c[0]
	}
	st.failed = st.calls - st.ok
	return st, nil
}

// readStat returns SuccessfulCall(C) and FailedCall(C) from the last line
// of a sipp -trace_stat file.
func readStat(path string) ([2]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return [2]int{}, fmt.Errorf("sipp statistics: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var head, last []string
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ";")
		if head == nil {
			head = fields
			continue
		}
		last = fields
	}
	if head == nil || last == nil {
		return [2]int{}, errors.New("sipp statistics: empty file " + path)
	}
	var out [2]int
	for i, h := range head {
		if i >= len(last) {
			break
		}
		switch h {
		case "SuccessfulCall(C)":
			out[0], _ = strconv.Atoi(last[i])
		case "FailedCall(C)":
			out[1], _ = strconv.Atoi(last[i])
		}
	}
	return out, nil
}

// waitEmpty waits briefly for the daemon to hold no call and returns how
// many it still holds. Calls still held are written to left (their query
// replies), to find out which message of theirs was lost.
func waitEmpty(ctx context.Context, ng, left string) int {
	c, err := ngproto.Dial(ng, ngproto.ClientConfig{Retries: 2, Interval: time.Second})
	if err != nil {
		return -1
	}
	defer c.Close()
	var calls []string
	for i := 0; i < 20; i++ {
		r, err := c.Do(ctx, ngproto.Dict{"command": "list", "limit": int64(100000)})
		if err != nil {
			return -1
		}
		calls = r.List("calls")
		if len(calls) == 0 {
			return 0
		}
		time.Sleep(250 * time.Millisecond)
	}
	var b strings.Builder
	for _, s := range calls {
		r, err := c.Do(ctx, ngproto.Dict{"command": "query", "call-id": s})
		fmt.Fprintf(&b, "%s\t%v\t%v\n", s, r, err)
	}
	_ = os.WriteFile(left, []byte(b.String()), 0o644)
	return len(calls)
}

func perCall(d time.Duration, calls int) float64 {
	if calls == 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond) / float64(calls)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// rateKept: a step offered for d, each call held for hold, ended within
// a fifth more than that (and half a second for the last calls and sipp's
// exit), so sipp offered at least about five sixths of the rate. A step
// that took longer offered a lower rate than it is named for, whatever
// the setup.
func rateKept(elapsed, d, hold time.Duration) bool {
	return elapsed <= d*6/5+hold+500*time.Millisecond
}
