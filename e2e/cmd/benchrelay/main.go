// Command benchrelay measures the userspace media relay of mediad and of
// Debian's rtpengine in the same run: it starts each daemon in turn
// (userspace only, loopback), sets up calls over NG, plays both phones of
// every call with paced 172-byte RTP at 50 packets/s per direction, and
// prints delivered packets, loss, the daemon's CPU seconds per forwarded
// packet (utime+stime from /proc/PID/stat) and its resident memory per idle
// call (VmRSS growth with -idle calls set up and no media).
//
//	go run ./e2e/cmd/benchrelay [-calls 200] [-duration 10s] [-idle 1000] [-only mediad|rtpengine]
//
// 1000 calls:      go run ./e2e/cmd/benchrelay -calls 1000 -duration 20s -idle 0
// 5000 idle calls: go run ./e2e/cmd/benchrelay -calls 50 -duration 3s -idle 5000
// (needs an open-files limit above 20000; -idle 4500 fits 20000)
// soak:            go run ./e2e/cmd/benchrelay -calls 500 -duration 60s -idle 0 -cycles 2 -settle 65s
//
// The daemons run one after the other, so they never compete for the CPUs.
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
	"syscall"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto/testport"
)

type config struct {
	calls, idle      int
	duration, warmup time.Duration
	pps, size        int
	sockets          int
	portMin, portMax int
	mediad, rtpe     string
	only             string
	logLevel         int
	setupWorkers     int
	cycles           int
	settle           time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.calls, "calls", 200, "calls with media (2 directions each)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measurement time with media")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "media before the measurement starts (not counted for CPU)")
	flag.IntVar(&cfg.idle, "idle", 1000, "idle calls (no media) for the memory measurement; 0 skips it")
	flag.IntVar(&cfg.pps, "pps", 50, "packets per second per direction per call")
	flag.IntVar(&cfg.size, "size", 172, "RTP datagram size")
	flag.IntVar(&cfg.sockets, "sockets", 4, "load generator sockets per side")
	flag.IntVar(&cfg.portMin, "port-min", 20000, "media port range of the daemons (-m)")
	flag.IntVar(&cfg.portMax, "port-max", 59999, "media port range of the daemons (-M)")
	flag.StringVar(&cfg.mediad, "mediad", "bin/mediad", "mediad binary (built from the workspace if missing)")
	flag.StringVar(&cfg.rtpe, "rtpengine", daemon.RtpenginePath, "rtpengine binary")
	flag.StringVar(&cfg.only, "only", "", "measure only this daemon (mediad or rtpengine)")
	flag.IntVar(&cfg.logLevel, "L", 3, "log level passed to both daemons")
	flag.IntVar(&cfg.setupWorkers, "setup-workers", 8, "concurrent NG clients during call setup")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "wait after deleting the calls before reading RSS (65s lets the daemons' 30-60 s NG reply caches expire)")
	flag.IntVar(&cfg.cycles, "cycles", 1, "media phases (set up, media, delete); with 2 or more rss-growth compares the last with the first (soak: -calls 500 -duration 60s -cycles 2)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// Thousands of idle calls need four sockets each in the daemon, which
	// inherits this process's open-files limit: raise it as far as allowed.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		want := syscall.Rlimit{Cur: 1 << 18, Max: max(lim.Max, 1<<18)}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
			lim.Cur = lim.Max
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
			log.Info("open-files limit", "max", lim.Max, "idle calls possible", (lim.Max-200)/4)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintf(os.Stderr, "benchrelay: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	var names []string
	switch cfg.only {
	case "":
		names = []string{"mediad", "rtpengine"}
	case "mediad", "rtpengine":
		names = []string{cfg.only}
	default:
		return fmt.Errorf("-only must be mediad or rtpengine, not %q", cfg.only)
	}
	fmt.Fprintf(out, "benchrelay: %d calls x 2 directions x %d pps, %d-byte RTP, %v measured after %v warm-up; RSS at %d idle calls; %d CPUs\n",
		cfg.calls, cfg.pps, cfg.size, cfg.duration, cfg.warmup, cfg.idle, runtime.NumCPU())
	var results []*result
	for _, name := range names {
		r, err := measureDaemon(ctx, cfg, name, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r = &result{name: name, err: err}
		}
		results = append(results, r)
	}
	printResults(out, results)
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("%s not measured: %w", r.name, r.err)
		}
	}
	return nil
}

// measureDaemon starts one daemon, measures it and stops it.
func measureDaemon(ctx context.Context, cfg config, name string, log *slog.Logger) (*result, error) {
	bin := cfg.rtpe
	if name == "mediad" {
		bin = cfg.mediad
		if _, err := os.Stat(bin); err != nil {
			tmp, err := os.MkdirTemp("", "benchrelay")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp) // the running process keeps its inode
			bin = filepath.Join(tmp, "mediad")
			wd, _ := os.Getwd()
			log.Info("building mediad", "out", bin)
			if err := daemon.BuildMediad(ctx, wd, bin); err != nil {
				return nil, err
			}
		}
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("not installed: %w", err)
	}
	ng, _, err := testport.FreeAddrs()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-n", ng,
		"-m", fmt.Sprint(cfg.portMin), "-M", fmt.Sprint(cfg.portMax),
		"-f", "-E", "-L", fmt.Sprint(cfg.logLevel), "--delete-delay=0",
	}
	proc, err := daemon.Start(ctx, daemon.Spec{Name: name, Path: bin, Args: args, NGAddr: ng})
	if err != nil {
		return nil, err
	}
	defer proc.Stop()
	log.Info("started", "daemon", name, "pid", proc.Pid(), "cmd", bin+" "+fmt.Sprint(args))
	r, err := measure(ctx, cfg, name, ng, proc.Pid(), log)
	if gone, werr := proc.Exited(); gone {
		return nil, fmt.Errorf("exited during the run: %v; output:\n%s", werr, proc.Output())
	}
	return r, err
}
