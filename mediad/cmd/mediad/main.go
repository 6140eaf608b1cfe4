// Command mediad is an rtpengine-compatible media daemon. It takes
// rtpengine's command line and config file; `mediad ctl <command>` is a
// CLI client equivalent to rtpengine-ctl.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ctl" {
		return ctl(args[1:], stdout, stderr)
	}
	cfg, err := config.Parse(args)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(stdout, config.Usage("mediad"))
		return 0
	case errors.Is(err, config.ErrVersion):
		fmt.Fprintf(stderr, "Version: %s\n", daemon.Version)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "mediad: bad command line: %v\n", err)
		return 1
	}
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// The live heap is small (calls and streams; the NG reply cache
		// lives outside it), so the default target (100%) collected
		// dozens of times a second under signalling load: 400% cuts
		// the CPU of an offer/answer/delete cycle by 8% for a few MB.
		debug.SetGCPercent(400)
	}
	if path := os.Getenv("MEDIAD_CPUPROFILE"); path != "" {
		// Profiling aid, as sipproxy's SIPPROXY_CPUPROFILE: a profile of
		// the real daemon under a benchmark's load, not of a patched copy.
		// Not a supported interface.
		if f, err := os.Create(path); err == nil {
			defer f.Close() // runs after StopCPUProfile (defers are LIFO)
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	levels := daemon.NewLevels(cfg)
	log, err := daemon.NewLogger(cfg, stderr, levels)
	if err != nil {
		fmt.Fprintf(stderr, "mediad: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// A second SIGINT/SIGTERM during shutdown kills at once; SIGHUP is
	// ignored, as rtpengine blocks it.
	go func() { <-ctx.Done(); stop() }()
	signal.Ignore(syscall.SIGHUP)
	if err := daemon.Run(ctx, cfg, log, daemon.Options{LogLevels: levels, LogSignals: true}); err != nil {
		log.Error("mediad stopped", "err", err)
		return 1
	}
	return 0
}
