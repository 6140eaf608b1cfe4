package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/loglevel"
)

// Runner executes CLI commands and returns rtpengine's text output. It is
// shared by the TCP CLI port, the NG "cli" command and the HTTP /cli path.
type Runner struct {
	calls   Calls
	cfg     config.Config
	ports   PortStats // may be nil
	started time.Time
	log     *slog.Logger

	levels *loglevel.Levels // "list loglevel", "set loglevel"

	start        params       // for "params start|diff|revert"
	controlTOS   atomic.Int32 // the NG sockets' TOS ("list/set controltos")
	onControlTOS func(int)    // applies it; nil: recorded only
}

// NewRunner creates a Runner. ports may be nil ("list interfaces" then
// shows no usage).
func NewRunner(cfg config.Config, calls Calls, ports PortStats, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{calls: calls, cfg: cfg, ports: ports, started: time.Now(), log: log}
	r.levels = loglevel.New(cfg.LogLevel, cfg.SubsystemLogLevels)
	r.controlTOS.Store(int32(cfg.ControlTOS))
	r.start = r.snapshot()
	return r
}

// OnControlTOS makes "set controltos" and "params revert" apply the NG
// sockets' TOS through f. Call before serving.
func (r *Runner) OnControlTOS(f func(tos int)) { r.onControlTOS = f }

// UseLevels makes "list loglevel" and "set loglevel" read and change
// levels, those the daemon's logger filters by (instead of the Runner's
// own, which nothing reads). Call before serving.
func (r *Runner) UseLevels(levels *loglevel.Levels) { r.levels = levels }

// handler handles the rest of a command line after its keyword.
type handler struct {
	cmd string
	fn  func(r *Runner, rest string, b *strings.Builder)
}

// The tree mirrors rtpengine 10.5's daemon/cli.c. Keywords match as
// prefixes, in table order, exactly as rtpengine's str_shift_cmp does.
var (
	topHandlers = []handler{
		{"list", (*Runner).list},
		{"terminate", (*Runner).terminate},
		{"set", (*Runner).set},
		{"get", (*Runner).list},
		{"params", (*Runner).params},
		{"ksadd", unsupported("ksadd")},
		{"ksrm", unsupported("ksrm")},
		{"kslist", unsupported("kslist")},
		{"active", unsupported("active")},
		{"standby", unsupported("standby")},
		{"debug", unsupported("debug")},
		{"call", (*Runner).call},
	}
	listHandlers = []handler{
		{"numsessions", (*Runner).listNumSessions},
		{"sessions", (*Runner).listSessions},
		{"totals", (*Runner).listTotals},
		{"counters", (*Runner).listCounters},
		{"maxopenfiles", (*Runner).listMaxOpenFiles},
		{"maxsessions", func(r *Runner, _ string, b *strings.Builder) {
			fmt.Fprintf(b, "Maximum sessions configured on rtpengine: %d\n", r.calls.Limits().MaxSessions)
		}},
		{"maxcpu", func(r *Runner, _ string, b *strings.Builder) {
			fmt.Fprintf(b, "Maximum CPU usage configured on rtpengine: %.1f\n", r.calls.Limits().MaxCPU)
		}},
		{"maxload", func(r *Runner, _ string, b *strings.Builder) {
			fmt.Fprintf(b, "Maximum load average configured on rtpengine: %.2f\n", r.calls.Limits().MaxLoad)
		}},
		{"maxbw", func(r *Runner, _ string, b *strings.Builder) {
			fmt.Fprintf(b, "Maximum bandwidth configured on rtpengine: %d\n", r.calls.Limits().MaxBandwidth)
		}},
		{"timeout", seconds("TIMEOUT=", func(l call.Limits) time.Duration { return l.Timeout })},
		{"silenttimeout", seconds("SILENT_TIMEOUT=", func(l call.Limits) time.Duration { return l.SilentTimeout })},
		{"offertimeout", seconds("OFFER_TIMEOUT=", func(l call.Limits) time.Duration { return l.OfferTimeout })},
		{"finaltimeout", seconds("FINAL_TIMEOUT=", func(l call.Limits) time.Duration { return l.FinalTimeout })},
		{"loglevels", (*Runner).listLogLevels},
		{"loglevel", (*Runner).listLogLevel},
		{"redisallowederrors", constant("-1\n")},
		{"redisdisabletime", constant("10\n")},
		{"redisconnecttimeout", constant("1000\n")},
		{"rediscmdtimeout", constant("0\n")},
		{"controltos", func(r *Runner, _ string, b *strings.Builder) { fmt.Fprintf(b, "%d\n", r.controlTOS.Load()) }},
		{"deletedelay", seconds("", func(l call.Limits) time.Duration { return l.DeleteDelay })},
		{"interfaces", (*Runner).listInterfaces},
		{"jsonstats", (*Runner).listJSONStats},
		{"transcoders", constant("No stats entries\n")},
	}
)

func unsupported(what string) func(*Runner, string, *strings.Builder) {
	return func(_ *Runner, _ string, b *strings.Builder) {
		fmt.Fprintf(b, "Unsupported command: %s is not implemented by mediad\n", what)
	}
}

func constant(s string) func(*Runner, string, *strings.Builder) {
	return func(_ *Runner, _ string, b *strings.Builder) { b.WriteString(s) }
}

func seconds(prefix string, get func(call.Limits) time.Duration) func(*Runner, string, *strings.Builder) {
	return func(r *Runner, _ string, b *strings.Builder) {
		fmt.Fprintf(b, "%s%d\n", prefix, int64(get(r.calls.Limits())/time.Second))
	}
}

// Run executes one command line and returns its output.
func (r *Runner) Run(ctx context.Context, command string) string {
	_ = ctx // commands are quick and in-memory; kept for the shared signature
	r.log.Info("Got CLI command", "command", command)
	var b strings.Builder
	r.dispatch(topHandlers, command, &b)
	return b.String()
}

func (r *Runner) dispatch(hs []handler, s string, b *strings.Builder) {
	if s == "help" {
		b.WriteString("Available sub-commands at this level:\n")
		for _, h := range hs {
			fmt.Fprintf(b, "\t%s\n", h.cmd)
		}
		return
	}
	for _, h := range hs {
		if strings.HasPrefix(s, h.cmd) {
			h.fn(r, s[len(h.cmd):], b)
			return
		}
	}
	// rtpengine prints "%s:" with a text that already ends in ':'.
	fmt.Fprintf(b, "Unknown or incomplete command::%s\n", s)
}

// shift drops the separator after a keyword; false if nothing follows.
func shift(rest string) (string, bool) {
	if rest == "" {
		return "", false
	}
	return rest[1:], true
}

const moreParams = "More parameters required.\n"

func (r *Runner) list(rest string, b *strings.Builder) {
	rest, ok := shift(rest)
	if !ok {
		b.WriteString(moreParams)
		return
	}
	r.dispatch(listHandlers, rest, b)
}

func (r *Runner) listNumSessions(_ string, b *strings.Builder) {
	c := r.calls.Counts()
	fmt.Fprintf(b, "Current sessions own: %d\n", c.Own)
	fmt.Fprintf(b, "Current sessions foreign: %d\n", c.Foreign)
	fmt.Fprintf(b, "Current sessions total: %d\n", c.Own+c.Foreign)
	fmt.Fprintf(b, "Current transcoded media: %d\n", c.TranscodedMedia)
	fmt.Fprintf(b, "Current sessions ipv4 only media: %d\n", c.IPv4Only)
	fmt.Fprintf(b, "Current sessions ipv6 only media: %d\n", c.IPv6Only)
	fmt.Fprintf(b, "Current sessions ip mixed  media: %d\n", c.Mixed)
}

func (r *Runner) listSessions(rest string, b *strings.Builder) {
	rest, ok := shift(rest)
	if !ok {
		b.WriteString(moreParams)
		return
	}
	all, own := false, false
	switch rest {
	case "all":
		all = true
	case "own":
		own = true
	case "foreign":
	default:
		r.sessionDetail(rest, b)
		return
	}
	found := 0
	for _, s := range r.calls.Sessions() {
		if !all && s.Foreign == own {
			continue
		}
		found++
		fmt.Fprintf(b, "callid: %60s | deletionmark:%4s | created:%12d | proxy:%s | redis_keyspace:%d | foreign:%s\n",
			s.CallID, yesNo(s.Deleted), s.Created.Unix(), s.Proxy, 0, yesNo(s.Foreign))
	}
	if found == 0 {
		switch {
		case all:
			b.WriteString("No sessions on this media relay.\n")
		case own:
			b.WriteString("No own sessions on this media relay.\n")
		default:
			b.WriteString("No foreign sessions on this media relay.\n")
		}
	}
}

func (r *Runner) sessionDetail(callID string, b *strings.Builder) {
	if callID == "" {
		b.WriteString(moreParams)
		return
	}
	s, ok := r.calls.Session(callID)
	if !ok {
		fmt.Fprintf(b, "\nCall ID not found (%s).\n\n", callID)
		return
	}
	writeCallInfo(b, s, time.Now())
}

func writeCallInfo(b *strings.Builder, s Session, now time.Time) {
	fmt.Fprintf(b, "\ncallid: %s\ndeletionmark: %s\ncreated: %d\nproxy: %s\ntos: %d\nlast_signal: %d\nredis_keyspace: %d\nforeign: %s\n\n",
		s.CallID, yesNo(s.Deleted), s.Created.Unix(), s.Proxy, s.TOS, s.LastSignal.Unix(), 0, yesNo(s.Foreign))
	for _, t := range s.Tags {
		writeTagInfo(b, t, now)
	}
	b.WriteString("\n")
}

func writeTagInfo(b *strings.Builder, t Tag, now time.Time) {
	end := now
	if !t.Terminated.IsZero() {
		end = t.Terminated
	}
	d := end.Sub(t.Started)
	if t.Started.IsZero() || d < 0 {
		d = 0
	}
	fmt.Fprintf(b, "--- Tag '%s', type: %s, label '%s', branch '%s', callduration %d.%06d\n",
		t.Tag, t.Type, t.Label, t.ViaBranch, int64(d/time.Second), int64(d%time.Second/time.Microsecond))
	for _, s := range t.SubscribedTo {
		fmt.Fprintf(b, "---     subscribed to '%s'\n", s)
	}
	for _, s := range t.Subscribers {
		fmt.Fprintf(b, "---     subscription of '%s'\n", s)
	}
	for _, m := range t.Medias {
		proto := m.Protocol
		if proto == "" {
			proto = "(unknown)"
		}
		codec := m.Codec
		if codec == "" {
			codec = "unknown codec"
		}
		fmt.Fprintf(b, "------ Media #%d (%s over %s) using %s\n", m.Index, m.Type, proto, codec)
		for _, st := range m.Streams {
			rtcp := ""
			if st.RTCP {
				rtcp = " (RTCP)"
			}
			var last int64
			if !st.LastPacket.IsZero() {
				last = st.LastPacket.Unix()
			}
			fmt.Fprintf(b, "-------- Port %15s:%-5d <> %15s:%-5d%s, SSRC %x, %d p, %d b, %d e, %d ts\n",
				addrString(st.Local), st.Local.Port(), addrString(st.Remote), st.Remote.Port(), rtcp,
				st.SSRC, st.Packets, st.Bytes, st.Errors, last)
		}
	}
}

// addrString prints an address as rtpengine's sockaddr_print_buf: no
// brackets, and an empty string when unset.
func addrString(ap netip.AddrPort) string {
	if !ap.Addr().IsValid() {
		return ""
	}
	return ap.Addr().Unmap().String()
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func (r *Runner) listMaxOpenFiles(_ string, b *strings.Builder) {
	pid := os.Getpid()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintf(b, "Fail getting rtpengine configured limits; cat /proc/%d/limits\n", pid)
		return
	}
	if rl.Cur == ^uint64(0) { // RLIM_INFINITY
		fmt.Fprintf(b, "Maximum open-files configured on rtpengine: infinite; cat /proc/%d/limits\n", pid)
		return
	}
	fmt.Fprintf(b, "Maximum open-files configured on rtpengine: %d; cat /proc/%d/limits\n", rl.Cur, pid)
}

func (r *Runner) listLogLevels(_ string, b *strings.Builder) {
	for _, s := range loglevel.Subsystems {
		fmt.Fprintf(b, "%s - %s\n", s.Name, s.Description)
	}
}

func (r *Runner) listLogLevel(rest string, b *strings.Builder) {
	if rest != "" {
		rest = rest[1:]
	}
	for i, s := range loglevel.Subsystems {
		n := r.levels.Get(loglevel.Subsystem(i))
		if rest != "" {
			if rest == s.Name {
				fmt.Fprintf(b, "%d\n", n)
			}
			continue
		}
		fmt.Fprintf(b, "%s = %d\n", s.Name, n)
	}
}

func (r *Runner) listInterfaces(_ string, b *strings.Builder) {
	for _, ifc := range r.cfg.Interfaces {
		family := "IPv4"
		if ifc.Address.Is6() {
			family = "IPv6"
		}
		fmt.Fprintf(b, "Interface '%s' address '%s' (%s)\n", ifc.Name, ifc.Address, family)
		min, max, used, total, last := r.portUsage()
		fmt.Fprintf(b, " Port range: %5d - %5d\n", min, max)
		fmt.Fprintf(b, " Ports used: %5d / %5d (%5.1f%%)\n", used, total, float64(used)*100/float64(total))
		fmt.Fprintf(b, " Last port used: %5d\n", last)
	}
}

// setLogLevel handles "set loglevel [SUBSYSTEM] N". As in rtpengine, an
// unknown subsystem changes nothing and still reports success.
func (r *Runner) setLogLevel(rest string, b *strings.Builder) {
	arg, ok := shift(rest)
	if !ok || arg == "" {
		b.WriteString(moreParams)
		return
	}
	sub := ""
	if arg[0] < '0' || arg[0] > '9' { // "set loglevel <subsystem> <level>"
		sub, arg, _ = strings.Cut(arg, " ")
		if arg == "" {
			b.WriteString(moreParams)
			return
		}
	}
	n := atoi(arg)
	if sub == "" {
		r.levels.SetAll(n)
	} else if s, ok := loglevel.Lookup(sub); ok {
		r.levels.Set(s, n)
	}
	fmt.Fprintf(b, "Success setting loglevel to %d\n", n)
}

// atoi parses a leading decimal number as C's atoi (0 if none).
func atoi(s string) int {
	n, neg, i := 0, false, 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<24; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// portUsage returns the port range and its use (from the allocator when
// there is one, else the configured range with nothing used).
func (r *Runner) portUsage() (min, max, used, total, last int) {
	if r.ports != nil {
		min, max = r.ports.Range()
		return min, max, r.ports.InUse(), r.ports.Total(), r.ports.LastUsed()
	}
	return r.cfg.PortMin, r.cfg.PortMax, 0, r.cfg.PortMax - r.cfg.PortMin + 1, 0
}

func (r *Runner) terminate(rest string, b *strings.Builder) {
	rest, ok := shift(rest)
	if !ok {
		b.WriteString(moreParams)
		return
	}
	switch rest {
	case "all":
		n := r.calls.TerminateAll()
		r.log.Info("All calls terminated by operator.", "calls", n)
		b.WriteString("All calls terminated by operator.\n")
		return
	case "own":
		n := r.calls.TerminateAll() // mediad has no foreign calls
		r.log.Info("All own calls terminated by operator.", "calls", n)
		b.WriteString("All own calls terminated by operator.\n")
		return
	case "foreign":
		b.WriteString("All foreign calls terminated by operator.\n")
		return
	}
	if !r.calls.Terminate(rest) {
		fmt.Fprintf(b, "\nCall Id not found (%s).\n\n", rest)
		return
	}
	r.log.Warn("Call Id successfully terminated by operator.", "call-id", rest)
	fmt.Fprintf(b, "\nCall Id (%s) successfully terminated by operator.\n\n", rest)
}

// call handles "call <callid> info|terminate".
func (r *Runner) call(rest string, b *strings.Builder) {
	rest, ok := shift(rest)
	if !ok {
		b.WriteString(moreParams)
		return
	}
	callID, sub, _ := strings.Cut(rest, " ")
	if callID == "" {
		b.WriteString("No call ID specified\n")
		return
	}
	s, found := r.calls.Session(callID)
	if !found {
		fmt.Fprintf(b, "No such call '%s'\n", callID)
		return
	}
	switch {
	case sub == "help":
		b.WriteString("Available sub-commands at this level:\n\tinfo\n\tterminate\n")
	case strings.HasPrefix(sub, "info"):
		writeCallInfo(b, s, time.Now())
	case strings.HasPrefix(sub, "terminate"):
		r.calls.Terminate(callID)
		r.log.Warn("Call terminated by operator", "call-id", callID)
		fmt.Fprintf(b, "\nCall '%s' terminated.\n\n", callID)
	default:
		fmt.Fprintf(b, "Unknown or incomplete command::%s\n", sub)
	}
}
