// Command sipproxy is the SIP proxy and registrar: UDP, TCP, TLS, WS and
// WSS listeners routed like the seed's OpenSIPS residential script.
//
//	sipproxy --listen=udp:127.0.0.1:5060 --listen=wss:127.0.0.1:8443 ...
//	sipproxy ctl [--mgmt=127.0.0.1:5099] list | remove AOR [CONTACT] | counters
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/app"
	"sipmedia/sipproxy/internal/auth"
	"sipmedia/sipproxy/internal/certs"
	"sipmedia/sipproxy/internal/config"
	"sipmedia/sipproxy/internal/media"
	"sipmedia/sipproxy/internal/mgmt"
	"sipmedia/sipproxy/internal/router"
	"sipmedia/sipproxy/internal/transport"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ctl" {
		return ctl(args[1:], stdout, stderr)
	}
	cfg, err := config.Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sipproxy:", err)
		return 2
	}
	tuneGC(cfg)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
	// sipgo's connections log through its package's logger (slog's
	// default unless set, which printed bare lines past --log-level).
	sip.SetDefaultLogger(slog.New(transport.SipgoLog{Handler: log.Handler()}).With("component", "sipgo"))
	if path := os.Getenv("SIPPROXY_CPUPROFILE"); path != "" {
		// Profiling aid for bench-sip; not a supported interface.
		if f, err := os.Create(path); err == nil {
			defer f.Close() // runs after StopCPUProfile (defers are LIFO)
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	drv, err := media.Open(cfg.Media, log)
	if err != nil {
		fmt.Fprintln(stderr, "sipproxy:", err)
		return 1
	}
	var hooks router.Media // stays a nil interface without media daemons
	if drv != nil {
		hooks = drv
		defer drv.Close()
	}
	p, err := app.Start(ctx, cfg, log, hooks)
	if err != nil {
		fmt.Fprintln(stderr, "sipproxy:", err)
		return 1
	}
	certSrcs := []*certs.Source{p.Certs}
	if d, src, err := startDemo(cfg, p.Certs, log); err != nil {
		fmt.Fprintln(stderr, "sipproxy:", err)
		return 1
	} else if d != nil {
		defer d.Close()
		if src != p.Certs {
			certSrcs = append(certSrcs, src)
		}
	}
	var socks []string
	for _, s := range p.Transport.Sockets() {
		socks = append(socks, s.Proto+":"+s.Addr())
	}
	log.Info("sipproxy running", "listen", strings.Join(socks, ","), "domains", cfg.Domains,
		"rtpengine-sock", cfg.RTPEngineSocks, "mgmt", cfg.Mgmt)
	go reloadOnHangup(ctx, p.Auth, certSrcs, log)
	<-ctx.Done()
	log.Info("sipproxy stopping")
	if path := os.Getenv("SIPPROXY_MEMPROFILE"); path != "" {
		// Profiling aid like SIPPROXY_CPUPROFILE: what is in use at the
		// end of a run (transactions still waiting for their timers).
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Debug("close", "error", err)
		}
	case <-time.After(5 * time.Second):
		log.Warn("shutdown timed out")
	}
	return 0
}

func ctl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sipproxy ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("mgmt", config.Default().Mgmt, "management API address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mgmt.Ctl(ctx, *addr, fs.Args(), stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// tuneGC applies the GC and thread settings unless the Go environment
// variables already chose.
func tuneGC(cfg config.Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if os.Getenv("GOMAXPROCS") == "" && cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
}

func level(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// reloadOnHangup reads again, on each SIGHUP, the --auth-users file (so
// that subscribers change without a restart, and without losing calls)
// and the TLS certificate files (a renewed certificate is served to new
// connections; open ones keep theirs). What fails to load leaves the
// previous users or certificate in place.
func reloadOnHangup(ctx context.Context, users *auth.Authenticator, certSrcs []*certs.Source, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		did := false
		if users != nil {
			did = true
			if n, err := users.Reload(); err != nil {
				log.Error("auth users not reloaded, the previous ones stay", "error", err)
			} else {
				log.Info("auth users reloaded", "users", n)
			}
		}
		for _, src := range certSrcs {
			if src == nil {
				continue
			}
			expires, err := src.Reload()
			switch {
			case err != nil:
				did = true
				log.Error("TLS certificate not reloaded, the previous one stays", "error", err)
			case !expires.IsZero():
				did = true
				log.Info("TLS certificate reloaded", "expires", expires.UTC().Format(time.RFC3339))
			}
		}
		if !did {
			log.Info("SIGHUP: nothing to reload (no --auth-users, no --tls-certificate)")
		}
	}
}
