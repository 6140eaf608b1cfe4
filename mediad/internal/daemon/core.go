package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/control"
	"sipmedia/mediad/internal/graphite"
	"sipmedia/mediad/internal/homer"
	"sipmedia/mediad/internal/offload"
	"sipmedia/mediad/internal/ports"
	"sipmedia/mediad/internal/recording"
	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/rtpproxy"
	"sipmedia/mediad/internal/sysload"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	"sipmedia/ngproto"
)

// core is the call side of the daemon: the registry, its NG handler and
// the CLI's view of it. This file is the seam with packages call and
// control.
type core struct {
	calls   cli.Calls
	handler func(*cli.Runner) ngproto.Handler
	// udpControl serves the legacy UDP control protocol (--listen-udp).
	udpControl func(log *slog.Logger) *rtpproxy.Server
	// graphite is the source of the reports to Graphite (--graphite).
	graphite func() graphite.Source
	run      func(context.Context) // registry timers, load sampling, the Homer sender
	close    func()                // releases every call
}

func newCore(cfg *config.Config, alloc *ports.Allocator, kern *offload.Kernel, log *slog.Logger) (*core, error) {
	cc := callConfig(cfg)
	run := func(context.Context) {}
	// The machine is sampled (rtpengine's load thread) for --max-load and
	// --max-cpu, and for "set maxload" and "set maxcpu" at run time.
	s := sysload.New("")
	if err := s.Sample(); err != nil {
		if cfg.MaxLoad > 0 || cfg.MaxCPU > 0 {
			return nil, fmt.Errorf("--max-load/--max-cpu: %w", err)
		}
		log.Warn("no load sampling: max-load and max-cpu cannot be set", "err", err)
	} else {
		cc.Load = s
		loadLog := log.With("component", "load")
		run = func(ctx context.Context) { s.Run(ctx, func(err error) { loadLog.Warn("sampling", "err", err) }) }
	}
	if cfg.RecordingDir != "" {
		sp, err := recording.Open(cfg.RecordingDir, cfg.RecordingMethod, cfg.RecordingFormat)
		switch {
		case errors.Is(err, recording.ErrMethod):
			// rtpengine too runs on without recording for a method it
			// cannot use.
			log.Error("call recording disabled", "err", err)
		case err != nil:
			return nil, fmt.Errorf("--recording-dir: %w", err)
		default:
			cc.Recording = sp
		}
	}
	logs, err := openLogs(cfg, &cc)
	if err != nil {
		return nil, err
	}
	closeLogs := func() {
		for _, c := range logs {
			c.Close()
		}
	}
	var hs *homer.Sender
	if cfg.Homer != "" {
		hs = homer.NewSender(cfg.Homer, cfg.HomerProtocol, cfg.HomerID, log.With("component", "homer"))
		cc.Homer = hs
	}
	reg := call.NewRegistry(cc, alloc, log.With("component", "call"))
	// Userspace media forwarding (package relay); stopped after the calls.
	eng, err := relay.New(relay.Config{Loops: cfg.MediaNumThreads, Log: log.With("component", "relay")})
	if err == nil {
		if err = reg.UseRelay(eng); err != nil {
			eng.Close()
		}
	}
	if err != nil {
		closeLogs()
		return nil, fmt.Errorf("media relay: %w", err)
	}
	reg.UseKernel(kern)
	h := control.NewHandler(reg, nil, log.With("component", "control"))
	return &core{
		calls: control.NewCLICalls(reg, h),
		handler: func(r *cli.Runner) ngproto.Handler {
			h.SetCLI(r)
			return h
		},
		graphite: func() graphite.Source { return h.Graphite() },
		udpControl: func(log *slog.Logger) *rtpproxy.Server {
			return &rtpproxy.Server{Reg: reg, Log: log, SilentTimeout: cfg.SilentTimeout}
		},
		run: func(ctx context.Context) {
			go run(ctx)
			if hs != nil {
				go hs.Run(ctx)
			}
			reg.Run(ctx)
		},
		close: func() {
			reg.KernelShutdown() // the table goes whole with kern.Close
			reg.Close()
			kern.Close()
			eng.Close()
			closeLogs()
		},
	}, nil
}

// openLogs opens the logs of calls, RTCP and DTMF events the options
// name (syslog facilities, --dtmf-log-dest) into cc; the closers close
// them.
func openLogs(cfg *config.Config, cc *call.Config) (logs []io.Closer, err error) {
	defer func() {
		if err != nil {
			for _, c := range logs {
				c.Close()
			}
		}
	}()
	var dtmfSyslog io.Writer
	for _, l := range []struct {
		name, opt string
		dst       *io.Writer
	}{
		{cfg.LogFacilityCDR, "log-facility-cdr", &cc.CDRLog},
		{cfg.LogFacilityRTCP, "log-facility-rtcp", &cc.RTCPLog},
		{cfg.LogFacilityDTMF, "log-facility-dtmf", &dtmfSyslog},
	} {
		w, err := newFacilityWriter(l.name, l.opt)
		if err != nil {
			return logs, err
		}
		if w != nil { // not a nil *facilityWriter in the interface
			*l.dst = w
			logs = append(logs, w)
		}
	}
	if cfg.DTMFLogDest != "" {
		conn, err := net.Dial("udp", cfg.DTMFLogDest)
		if err != nil {
			return logs, fmt.Errorf("--dtmf-log-dest: %w", err)
		}
		logs = append(logs, conn)
		cc.DTMFLog = conn
	}
	switch {
	case dtmfSyslog != nil && cc.DTMFLog != nil:
		// syslog after the datagram: its writer never fails, so
		// MultiWriter always reaches both.
		cc.DTMFLog = io.MultiWriter(cc.DTMFLog, dtmfSyslog)
	case dtmfSyslog != nil:
		cc.DTMFLog = dtmfSyslog
	}
	return logs, nil
}

// callConfig derives the registry's configuration from the daemon's.
func callConfig(cfg *config.Config) call.Config {
	cc := call.Config{
		Timeout:          cfg.Timeout,
		OfferTimeout:     cfg.OfferTimeout,
		SilentTimeout:    cfg.SilentTimeout,
		FinalTimeout:     cfg.FinalTimeout,
		DeleteDelay:      cfg.DeleteDelay,
		SIPSource:        cfg.SIPSource,
		DTLSPassive:      cfg.DTLSPassive,
		DTLSCert:         dtlssrtp.CertOptions{SHA1: cfg.DTLSSHA1, LinkMTU: cfg.DTLSMTU},
		SoftwareID:       cfg.SoftwareID,
		LogSRTPKeys:      cfg.LogSRTPKeys,
		RejectInvalidSDP: cfg.RejectInvalidSDP,
		MOS:              cfg.MOS,
		EndpointLearning: cfg.EndpointLearning,
		PortMin:          cfg.PortMin,
		PortMax:          cfg.PortMax,
		TOS:              cfg.TOS,
		MaxLoad:          cfg.MaxLoad,
		MaxCPU:           cfg.MaxCPU,
		MaxBandwidth:     cfg.MaxBandwidth,
	}
	switch {
	case cfg.MaxSessions == 0:
		cc.RefuseNew = true // rtpengine: 0 refuses every new call
	case cfg.MaxSessions > 0:
		cc.MaxSessions = cfg.MaxSessions
	}
	for _, i := range cfg.Interfaces {
		cc.Interfaces = append(cc.Interfaces, call.Interface{Name: i.Name, Address: i.Address, Advertised: i.Advertised})
	}
	if cfg.DTLSCertRSA {
		cc.DTLSCert.RSABits = cfg.DTLSRSAKeySize
	}
	return cc
}
