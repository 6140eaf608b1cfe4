// Package daemon assembles mediad: configuration, port allocator, call
// registry, NG control server and CLI port, run until the context ends and
// then shut down cleanly (listeners closed, calls released, goroutines
// stopped, pidfile removed). It owns no protocol logic of its own.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/graphite"
	"sipmedia/mediad/internal/loglevel"
	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/rawsys"
	"sipmedia/ngproto"
)

// Version is reported by --version (rtpengine prints "Version: X").
const Version = "mediad-0.1 (rtpengine 10.5 compatible)"

// Ready, if set in Options, receives the bound listener addresses once
// every listener is open.
type Options struct {
	Ready func(Addrs)
	// LogLevels, if set, are the levels log's handler filters by (see
	// NewLogger); the CLI's "set loglevel" changes them.
	LogLevels *loglevel.Levels
	// LogSignals makes SIGUSR1 lower and SIGUSR2 raise every subsystem's
	// log level by one, as rtpengine does (needs LogLevels).
	LogSignals bool
}

// Addrs are the bound listener addresses ("" when disabled).
type Addrs struct {
	NG, TCPNG, CLI string
	// UDP is the legacy UDP control protocol's (--listen-udp).
	UDP         string
	HTTP, HTTPS []string
}

// Run starts mediad with cfg and blocks until ctx is done or a listener
// fails; it returns after everything has stopped.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Unimplemented) > 0 {
		log.Warn("options accepted for rtpengine compatibility but not implemented by mediad (ignored)",
			"options", strings.Join(cfg.Unimplemented, " "))
	}
	if len(cfg.Args) > 0 {
		log.Warn("ignoring stray command-line arguments", "args", strings.Join(cfg.Args, " "))
	}

	for _, i := range cfg.Interfaces {
		// Media allocation would fail on every call: say so at start.
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(i.Address, 0)))
		if err != nil {
			log.Warn("interface address cannot be bound; calls using it will fail", "interface", i.Name, "address", i.Address, "err", err)
			continue
		}
		_ = c.Close()
	}
	alloc, err := ports.New(cfg.PortMin, cfg.PortMax, log.With("component", "ports"))
	if err != nil {
		return err
	}
	// Kernel fast path (kernel.go): its tables go with core.close.
	kern, err := openKernel(ctx, cfg, log)
	if err != nil {
		return err
	}
	core, err := newCore(cfg, alloc, kern, log)
	if err != nil {
		kern.Close()
		return err
	}
	// Calls are released after every listener and timer has stopped.
	defer core.close()

	runner := cli.NewRunner(*cfg, core.calls, alloc, log.With("component", "cli"))
	if opts.LogLevels != nil {
		runner.UseLevels(opts.LogLevels)
	}
	ngSrv := &ngproto.Server{Handler: core.handler(runner), Logger: log.With("component", "ng"), MaxConcurrent: ngConcurrency(cfg.NumThreads)}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		addrs    Addrs
	)
	fail := func(e error) {
		errOnce.Do(func() { firstErr = e })
		cancel()
	}
	defer func() {
		cancel()
		wg.Wait()
		if err == nil {
			err = firstErr
		}
	}()

	if cfg.ListenNG != "" {
		conn, err := listenUDP(cfg.ListenNG)
		if err != nil {
			return fmt.Errorf("NG listener (--listen-ng): %w", err)
		}
		if cfg.ControlTOS != 0 {
			if err := setTOS(conn, cfg.ControlTOS); err != nil {
				conn.Close()
				return fmt.Errorf("NG listener (--control-tos): %w", err)
			}
		}
		addrs.NG = conn.LocalAddr().String()
		// The CLI's "set controltos" (served only after this).
		runner.OnControlTOS(func(tos int) {
			if err := setTOS(conn, tos); err != nil {
				log.Warn("cannot set the NG socket's TOS", "tos", tos, "err", err)
			}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			if err := ngSrv.Serve(ctx, conn); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("NG server: %w", err))
			}
		}()
		log.Info("NG control listening", "addr", addrs.NG)
	}
	if cfg.ListenTCPNG != "" {
		ln, err := net.Listen("tcp", cfg.ListenTCPNG)
		if err != nil {
			return fmt.Errorf("NG TCP listener (--listen-tcp-ng): %w", err)
		}
		addrs.TCPNG = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ngSrv.ServeTCP(ctx, ln); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("NG TCP server: %w", err))
			}
		}()
		log.Info("NG control listening", "addr", addrs.TCPNG, "transport", "tcp")
	}
	if cfg.ListenUDP != "" {
		conn, err := listenUDP(cfg.ListenUDP)
		if err != nil {
			return fmt.Errorf("legacy UDP control listener (--listen-udp): %w", err)
		}
		addrs.UDP = conn.LocalAddr().String()
		srv := core.udpControl(log.With("component", "udp-control"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer srv.Close()
			if err := srv.Serve(ctx, conn); err != nil && ctx.Err() == nil {
				fail(err)
			}
		}()
		log.Info("legacy UDP control listening", "addr", addrs.UDP)
	}
	if cfg.Graphite != "" {
		interval := cfg.GraphiteInterval
		if interval <= 0 {
			log.Warn("Graphite send interval was not set. Setting it to 1 second.")
			interval = 1
		}
		gs := &graphite.Sender{Addr: cfg.Graphite, Interval: time.Duration(interval) * time.Second, Prefix: cfg.GraphitePrefix,
			Timeout: time.Duration(cfg.GraphiteTimeout) * time.Second, Source: core.graphite(), Log: log.With("component", "graphite")}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gs.Run(ctx)
		}()
	}
	if cfg.ListenCLI != "" {
		ln, err := net.Listen("tcp", cfg.ListenCLI)
		if err != nil {
			return fmt.Errorf("CLI listener (--listen-cli): %w", err)
		}
		addrs.CLI = ln.Addr().String()
		srv := &cli.Server{Runner: runner, Logger: log.With("component", "cli")}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
				fail(err)
			}
		}()
		log.Info("CLI listening", "addr", addrs.CLI)
	}
	httpLog := log.With("component", "http")
	metrics := metricsHandler(core.calls, alloc, httpLog) // one registry for every HTTP listener
	var tlsConf *tls.Config
	if len(cfg.ListenHTTPS) > 0 {
		cert, err := tls.LoadX509KeyPair(cfg.HTTPSCert, cfg.HTTPSKey)
		if err != nil {
			return fmt.Errorf("HTTPS listener (--https-cert, --https-key): %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for i, l := range append(slices.Clone(cfg.ListenHTTPAll), cfg.ListenHTTPS...) {
		secure := i >= len(cfg.ListenHTTPAll)
		ln, err := net.Listen("tcp", l)
		if err != nil {
			if secure {
				return fmt.Errorf("HTTPS listener (--listen-https): %w", err)
			}
			return fmt.Errorf("HTTP listener (--listen-http): %w", err)
		}
		if secure {
			addrs.HTTPS = append(addrs.HTTPS, ln.Addr().String())
			ln = tls.NewListener(ln, tlsConf)
		} else {
			addrs.HTTP = append(addrs.HTTP, ln.Addr().String())
		}
		hs := &http.Server{
			Handler:           httpHandler(ngSrv, runner, metrics, httpLog),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          slog.NewLogLogger(httpLog.Handler(), slog.LevelWarn),
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				fail(fmt.Errorf("HTTP server: %w", err))
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
		}()
		log.Info("HTTP listening", "addr", ln.Addr().String(), "tls", secure)
	}
	if lv := opts.LogLevels; opts.LogSignals && lv != nil {
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer signal.Stop(sigs)
			for {
				select {
				case <-ctx.Done():
					return
				case sig := <-sigs:
					delta, verb := 1, "Increased"
					if sig == syscall.SIGUSR1 {
						delta, verb = -1, "Decreased"
					}
					lv.Add(delta)
					n := lv.Get(loglevel.Core)
					log.Log(ctx, loglevel.ToSlog(n), verb+" every subsystem's log level", "core", n)
				}
			}
		}()
	}
	if core.run != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			core.run(ctx)
		}()
	}

	if cfg.PidFile != "" {
		if err := writePidFile(cfg.PidFile); err != nil {
			return err
		}
		defer func() {
			if rerr := os.Remove(cfg.PidFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				log.Warn("removing pidfile", "file", cfg.PidFile, "err", rerr)
			}
		}()
	}
	ifs := make([]string, 0, len(cfg.Interfaces))
	for _, i := range cfg.Interfaces {
		ifs = append(ifs, i.Name+"/"+i.Address.String()+"!"+i.Advertised.String())
	}
	log.Info("Startup complete", "version", Version, "interfaces", strings.Join(ifs, " "),
		"ports", strconv.Itoa(cfg.PortMin)+"-"+strconv.Itoa(cfg.PortMax))
	if err := notifySystemd("READY=1"); err != nil {
		log.Warn("notifying systemd", "err", err)
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}

	<-ctx.Done()
	log.Info("Shutting down", "version", Version)
	_ = notifySystemd("STOPPING=1")
	return nil
}

func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	// Room for a burst of requests while the control plane is busy: the
	// default buffer holds about a hundred, and a request lost there costs
	// its proxy a whole retry interval. Best effort: capped by
	// net.core.rmem_max.
	_ = c.SetReadBuffer(4 << 20)
	return c, nil
}

// setTOS sets the IP TOS of what c sends (the traffic class too, for an
// IPv6 socket, which may also carry IPv4).
func setTOS(c *net.UDPConn, tos int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		dom, e := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if e != nil {
			serr = os.NewSyscallError("getsockopt SO_DOMAIN", e)
			return
		}
		serr = rawsys.SetTOS(int(fd), dom == unix.AF_INET6, tos)
	})
	if err != nil {
		return err
	}
	return serr
}

func writePidFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pidfile: %w", err)
	}
	return nil
}

// ngConcurrency is how many NG commands run at once: --num-threads, else
// one per CPU, since inline handlers beyond the CPUs only contend (on 2
// cores, 16 clients: 2 loops 3419-3528 cycles/s, 301-310 µs CPU per cycle,
// p99 13.4-14.3 ms; 4 loops 3375-3414, 325-334 µs, 15.4-15.7 ms), but at
// least two so that one slow command never holds all the others.
func ngConcurrency(numThreads int) int {
	if numThreads > 0 {
		return numThreads
	}
	return max(2, runtime.GOMAXPROCS(0))
}
