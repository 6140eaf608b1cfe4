// Command benchng measures NG signalling throughput: offer+answer+delete
// cycles per second with p50/p99 cycle latency, from 1 and from 16
// concurrent clients, against mediad and Debian's rtpengine in the same
// run, printed side by side with the ratio. It starts both daemons itself
// (userspace only, --delete-delay=0) and stops them at the end.
//
// The generator shares the two cores with the daemon it measures, so it is
// made cheap (-client lean: one thread, one epoll set, n sockets); its own
// CPU per cycle is printed (gen/cycle) beside the daemon's. -client ngproto
// drives the daemons through the product's ngproto.Client instead.
//
//	go run ./e2e/cmd/benchng [-duration 10s] [-clients 1,16] [-only mediad|rtpengine] [-client lean|ngproto]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto/testport"
)

type config struct {
	duration, warmup time.Duration
	clients          []int
	mediad, rtpe     string
	only             string
	addr             string
	client           string // lean or ngproto
	logLevel         int
}

func main() {
	var cfg config
	var clients string
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measurement time per daemon and client count")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before each measurement (not counted)")
	flag.StringVar(&clients, "clients", "1,16", "comma-separated numbers of concurrent clients")
	flag.StringVar(&cfg.mediad, "mediad", "bin/mediad", "mediad binary (built from the workspace if missing)")
	flag.StringVar(&cfg.rtpe, "rtpengine", daemon.RtpenginePath, "rtpengine binary")
	flag.StringVar(&cfg.only, "only", "", "measure only this daemon (mediad or rtpengine)")
	flag.IntVar(&cfg.logLevel, "L", 3, "log level passed to both daemons")
	flag.StringVar(&cfg.client, "client", "lean", "load generator: lean (one thread, epoll, replies checked by cookie, result and sdp) or ngproto (one ngproto.Client and goroutine per client, replies fully decoded)")
	flag.StringVar(&cfg.addr, "addr", "", "measure an already running daemon at this NG address instead of starting both (for profiling)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "benchng: bad -clients %q\n", clients)
			os.Exit(2)
		}
		cfg.clients = append(cfg.clients, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintf(os.Stderr, "benchng: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// target is one daemon under measurement.
type target struct {
	name string
	proc *daemon.Process
	ng   string
	err  error // why it could not be started
}

func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	var targets []*target
	if cfg.addr != "" {
		targets = append(targets, &target{name: "external", ng: cfg.addr})
	}
	if cfg.addr == "" && cfg.only == "" || cfg.only == "mediad" {
		targets = append(targets, startMediad(ctx, cfg, log))
	}
	if cfg.addr == "" && (cfg.only == "" || cfg.only == "rtpengine") {
		targets = append(targets, startRtpengine(ctx, cfg, log))
	}
	if len(targets) == 0 {
		return fmt.Errorf("-only must be mediad or rtpengine, not %q", cfg.only)
	}
	defer func() {
		for _, t := range targets {
			if t.proc != nil {
				t.proc.Stop()
			}
		}
	}()

	fmt.Fprintf(out, "benchng: offer+answer+delete cycles, %v per measurement after %v warm-up, %d CPUs\n",
		cfg.duration, cfg.warmup, runtime.NumCPU())
	header := fmt.Sprintf("%7s", "clients")
	for _, t := range targets {
		header += fmt.Sprintf(" | %-9s %10s %9s %9s %7s %9s %9s", t.name, "cycles/s", "p50", "p99", "errors", "CPU/cycle", "gen/cycle")
	}
	if len(targets) == 2 {
		header += " | mediad/rtpengine"
	}
	fmt.Fprintln(out, header)

	failed := false
	for _, n := range cfg.clients {
		line := fmt.Sprintf("%7d", n)
		var rates []float64
		var notes []string
		for _, t := range targets {
			if t.err != nil {
				line += fmt.Sprintf(" | %-9s %10s %9s %9s %7s %9s %9s", t.name, "-", "-", "-", "-", "-", "-")
				rates = append(rates, 0)
				failed = true
				continue
			}
			cpu0, gen0 := t.cpu(), selfCPU()
			measureFn := measureLean
			if cfg.client == "ngproto" {
				measureFn = measure
			}
			r, err := measureFn(ctx, t.ng, n, cfg.warmup, cfg.duration, t.name[:1])
			cpu, gen := t.cpu()-cpu0, selfCPU()-gen0
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if gone, werr := t.exited(); gone {
				t.err = fmt.Errorf("exited during the run: %v", werr)
				notes = append(notes, fmt.Sprintf("%s %v; output:\n%s", t.name, t.err, t.proc.Output()))
			}
			line += fmt.Sprintf(" | %-9s %10.0f %9s %9s %7d %9s %9s", t.name, r.rate(), fmtDur(r.P50), fmtDur(r.P99), r.Errors, perCycle(cpu, r), perCycle(gen, r))
			rates = append(rates, r.rate())
			if r.Errors > 0 {
				failed = true
				notes = append(notes, fmt.Sprintf("%s, %d clients: first error: %s", t.name, n, r.FirstErr))
			}
		}
		if len(rates) == 2 {
			if rates[0] > 0 && rates[1] > 0 {
				line += fmt.Sprintf(" | %.2fx", rates[0]/rates[1])
			} else {
				line += " | -"
			}
		}
		fmt.Fprintln(out, line)
		for _, s := range notes {
			fmt.Fprintln(out, "  note: "+s)
		}
	}
	for _, t := range targets {
		if t.err != nil {
			fmt.Fprintf(out, "  %s not measured: %v\n", t.name, t.err)
		}
	}
	if failed {
		return fmt.Errorf("errors or missing measurements (see above)")
	}
	return nil
}

// exited reports whether a daemon started here has ended (an external
// one, -addr, is not watched).
func (t *target) exited() (bool, error) {
	if t.proc == nil {
		return false, nil
	}
	return t.proc.Exited()
}

// cpu is the daemon's CPU time so far (0 for a daemon not started here).
func (t *target) cpu() time.Duration {
	if t.proc == nil {
		return 0
	}
	c, _ := daemon.ProcCPU(t.proc.Pid())
	return c
}

// selfCPU is the generator's own CPU time so far, for its share of the
// two cores the daemons also run on.
func selfCPU() time.Duration {
	c, _ := daemon.ProcCPU(os.Getpid())
	return c
}

// perCycle is the daemon's CPU per completed cycle over warm-up and
// measurement (the cycles of the warm-up are estimated at the measured
// rate). A figure that depends less on what else the machine runs than
// the rate does.
func perCycle(cpu time.Duration, r result) string {
	cycles := r.rate() * (r.Elapsed + r.Warmup).Seconds()
	if cpu <= 0 || cycles <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", float64(cpu.Microseconds())/cycles)
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}

func startRtpengine(ctx context.Context, cfg config, log *slog.Logger) *target {
	t := &target{name: "rtpengine"}
	if _, err := os.Stat(cfg.rtpe); err != nil {
		t.err = fmt.Errorf("not installed: %w", err)
		return t
	}
	o, err := options(14000, 16999, cfg.logLevel)
	if err != nil {
		t.err = err
		return t
	}
	t.ng = o.NG
	t.proc, t.err = daemon.Start(ctx, daemon.Spec{Name: t.name, Path: cfg.rtpe, Args: o.Args(), NGAddr: o.NG})
	if t.err == nil {
		log.Info("started", "daemon", t.name, "pid", t.proc.Pid(), "ng", o.NG)
	}
	return t
}

func startMediad(ctx context.Context, cfg config, log *slog.Logger) *target {
	t := &target{name: "mediad"}
	bin := cfg.mediad
	if _, err := os.Stat(bin); err != nil {
		tmp, err := os.MkdirTemp("", "benchng")
		if err != nil {
			t.err = err
			return t
		}
		defer os.RemoveAll(tmp) // the running process keeps its inode
		bin = filepath.Join(tmp, "mediad")
		wd, _ := os.Getwd()
		log.Info("building mediad", "out", bin)
		if err := daemon.BuildMediad(ctx, wd, bin); err != nil {
			t.err = err
			return t
		}
	}
	o, err := options(17000, 19999, cfg.logLevel)
	if err != nil {
		t.err = err
		return t
	}
	t.ng = o.NG
	t.proc, t.err = daemon.Start(ctx, daemon.Spec{Name: t.name, Path: bin, Args: o.Args(), NGAddr: o.NG})
	if t.err == nil {
		log.Info("started", "daemon", t.name, "pid", t.proc.Pid(), "ng", o.NG, "binary", bin)
	}
	return t
}

// options picks free control ports. Media ranges are passed by the callers:
// disjoint, below the kernel's ephemeral range (32768+, where the client
// sockets live) and outside the conformance test's 10000-13999.
func options(min, max, logLevel int) (daemon.Options, error) {
	ng, cli, err := testport.FreeAddrs()
	if err != nil {
		return daemon.Options{}, err
	}
	return daemon.Options{NG: ng, CLI: cli, PortMin: min, PortMax: max, LogLevel: logLevel}, nil
}
