package cli

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/loglevel"
)

// "params start|current|diff|revert" and "list/set controltos", as
// rtpengine 10.5's cli.c: the parameters at start and now, those changed
// since start, and putting those back. Values mediad has no counterpart
// for (Redis, XMLRPC, the old TCP control) print rtpengine's defaults.
var paramsHandlers = []handler{
	{"start", func(r *Runner, _ string, b *strings.Builder) { r.printParams(b, r.start, true) }},
	{"current", func(r *Runner, _ string, b *strings.Builder) { r.printParams(b, r.snapshot(), false) }},
	{"diff", func(r *Runner, _ string, b *strings.Builder) { r.diffParams(b, false) }},
	{"revert", func(r *Runner, _ string, b *strings.Builder) { r.diffParams(b, true) }},
}

// params are the run-time changeable parameters.
type params struct {
	levels     [len(loglevel.Subsystems)]int
	limits     call.Limits
	controlTOS int
}

func (r *Runner) snapshot() params {
	p := params{limits: r.calls.Limits(), controlTOS: int(r.controlTOS.Load())}
	for i := range p.levels {
		p.levels[i] = r.levels.Get(loglevel.Subsystem(i))
	}
	return p
}

func (r *Runner) params(rest string, b *strings.Builder) {
	withArg(func(r *Runner, arg string, b *strings.Builder) { r.dispatch(paramsHandlers, arg, b) })(r, rest, b)
}

// hundredths is how rtpengine holds --max-cpu and --max-load: an int of
// hundredths, truncated.
func hundredths(v float64) int64 { return int64(v * 100) }

func (r *Runner) printParams(b *strings.Builder, p params, start bool) {
	c := &r.cfg
	for i, s := range loglevel.Subsystems {
		fmt.Fprintf(b, "log-level-%s = %d\n", s.Name, p.levels[i])
	}
	l := p.limits
	homerProto := 2 // SOCK_DGRAM
	if c.HomerProtocol == "tcp" {
		homerProto = 1
	}
	threads := c.NumThreads
	if threads <= 0 {
		threads = max(runtime.NumCPU(), 4) // rtpengine's num_cpu_cores(4)
	}
	fmt.Fprintf(b, "table = %d\nmax-sessions = %d\ntimeout = %d\nsilent-timeout = %d\nfinal-timeout = %d\noffer-timeout = %d\n"+
		"delete-delay = %d\nredis-expires = 86400\ntos = %d\ncontrol-tos = %d\ngraphite-interval = %d\nredis-num-threads = %d\n"+
		"homer-protocol = %d\nhomer-id = %d\nno-fallback = %d\nport-min = %d\nport-max = %d\n",
		c.Table, l.MaxSessions, secs(l.Timeout), secs(l.SilentTimeout), secs(l.FinalTimeout), secs(l.OfferTimeout),
		secs(l.DeleteDelay), c.TOS, p.controlTOS, c.GraphiteInterval, max(runtime.NumCPU(), 4),
		homerProto, c.HomerID, b2i(c.NoFallback), c.PortMin, c.PortMax)
	if start {
		b.WriteString("redis = :0/-1\nredis-write = :0/-1\n")
	} else {
		b.WriteString("redis-db = -1\nredis-write-db = -1\n")
	}
	fmt.Fprintf(b, "no-redis-required = 0\nnum-threads = %d\nxmlrpc-format = 0\nlog_format = 0\n"+
		"redis_allowed_errors = -1\nredis_disable_time = 10\nredis_cmd_timeout = 0\nredis_connect_timeout = 1000\n"+
		"max-cpu = %.1f\nmax-load = %.2f\n", threads, float64(hundredths(l.MaxCPU))/100, float64(hundredths(l.MaxLoad))/100)
	if start {
		fmt.Fprintf(b, "max-bandwidth = %d\n", l.MaxBandwidth)
	} else {
		fmt.Fprintf(b, "max-bw = %d\n", l.MaxBandwidth)
	}
	for i, ifc := range c.Interfaces {
		fmt.Fprintf(b, "interface[%d] = %s\\%s \n", i, ifc.Name, ifc.Address)
	}
	fmt.Fprintf(b, "b2b_url = (null)\nredis-auth = (null)\nredis-write-auth = (null)\nrecording-dir = %s\nrecording-method = %s\n"+
		"recording-format = %s\niptables-chain = (null)\n", orNull(c.RecordingDir), c.RecordingMethod, c.RecordingFormat)
	b.WriteString("listen-tcp = \nlisten-tcp = \n")
	for _, l := range []struct{ name, addr string }{{"listen-udp", c.ListenUDP}, {"listen-ng", c.ListenNG}, {"listen-cli", c.ListenCLI}} {
		v4, v6 := listenPair(l.addr)
		fmt.Fprintf(b, "%s = %s\n%s = %s\n", l.name, v4, l.name, v6)
	}
}

// diffParams prints (or, with revert, puts back) what changed since
// start: rtpengine's list, in its order (the offer timeout and the delete
// delay are not in it).
func (r *Runner) diffParams(b *strings.Builder, revert bool) {
	now, was := r.snapshot(), r.start
	show := func(name string, from, to int64) {
		if from != to && !revert {
			fmt.Fprintf(b, "%s: %d => %d\n", name, from, to)
		}
	}
	for i, s := range loglevel.Subsystems {
		show("log-level-"+s.Name, int64(was.levels[i]), int64(now.levels[i]))
		if revert {
			r.levels.Set(loglevel.Subsystem(i), was.levels[i])
		}
	}
	n, w := now.limits, was.limits
	show("max-sessions", int64(w.MaxSessions), int64(n.MaxSessions))
	show("max-cpu", hundredths(w.MaxCPU), hundredths(n.MaxCPU))
	show("max-load", hundredths(w.MaxLoad), hundredths(n.MaxLoad))
	show("max-bw", w.MaxBandwidth, n.MaxBandwidth)
	show("timeout", secs(w.Timeout), secs(n.Timeout))
	show("silent-timeout", secs(w.SilentTimeout), secs(n.SilentTimeout))
	show("final-timeout", secs(w.FinalTimeout), secs(n.FinalTimeout))
	show("control-tos", int64(was.controlTOS), int64(now.controlTOS))
	if revert {
		r.calls.SetLimits(func(l *call.Limits) {
			l.MaxSessions, l.MaxCPU, l.MaxLoad, l.MaxBandwidth = w.MaxSessions, w.MaxCPU, w.MaxLoad, w.MaxBandwidth
			l.Timeout, l.SilentTimeout, l.FinalTimeout = w.Timeout, w.SilentTimeout, w.FinalTimeout
		})
		r.applyControlTOS(was.controlTOS)
	}
}

func (r *Runner) setControlTOS(arg string, b *strings.Builder) {
	tos, _ := strtol(arg)
	if tos < 0 || tos > 255 {
		fmt.Fprintf(b, "Invalid control-tos value %d, must be between 0 and 255\n", tos)
		return
	}
	r.applyControlTOS(int(tos))
	// rtpengine 10.5's reply, copied from another handler.
	fmt.Fprintf(b, "Success setting redis-connect-timeout to %d\n", tos)
}

// applyControlTOS records the NG sockets' TOS and applies it (rtpengine
// 10.5 crashes here when an NG listener of either family is missing).
func (r *Runner) applyControlTOS(tos int) {
	r.controlTOS.Store(int32(tos))
	if r.onControlTOS != nil {
		r.onControlTOS(tos)
	}
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

func orNull(s string) string {
	if s == "" {
		return "(null)" // glibc's printf of a NULL string
	}
	return s
}

// listenPair renders a listener as rtpengine's two endpoints: a port
// alone is both families' wildcard, an address fills the first only.
func listenPair(addr string) (string, string) {
	if addr == "" {
		return "", ""
	}
	host, port := "", addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host, port = strings.Trim(addr[:i], "[]"), addr[i+1:]
	}
	if host == "" {
		return "0.0.0.0:" + port, "[::]:" + port
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		return "[" + host + "]:" + port, ""
	}
	return host + ":" + port, ""
}
