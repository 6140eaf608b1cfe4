package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"sipmedia/mediad/internal/call"
)

// "set" changes limits at run time, as rtpengine 10.5's cli.c does, with
// its replies (typos included: operators' scripts match them). What
// mediad does not have (open files, Redis) is answered "Unsupported
// command".
var setHandlers = []handler{
	{"maxopenfiles", unsupported("set maxopenfiles")},
	{"maxsessions", withArg((*Runner).setMaxSessions)},
	{"maxcpu", setFloat("maxcpu", "%.1f", func(l *call.Limits, v float64) { l.MaxCPU = v })},
	{"maxload", setFloat("maxload", "%.2f", func(l *call.Limits, v float64) { l.MaxLoad = v })},
	{"maxbw", withArg((*Runner).setMaxBandwidth)},
	{"timeout", setTimeout(func(l *call.Limits) *time.Duration { return &l.Timeout })},
	{"silenttimeout", setTimeout(func(l *call.Limits) *time.Duration { return &l.SilentTimeout })},
	{"offertimeout", setTimeout(func(l *call.Limits) *time.Duration { return &l.OfferTimeout })},
	{"finaltimeout", setTimeout(func(l *call.Limits) *time.Duration { return &l.FinalTimeout })},
	{"loglevel", (*Runner).setLogLevel},
	{"redisallowederrors", unsupported("set redisallowederrors")},
	{"redisdisabletime", unsupported("set redisdisabletime")},
	{"redisconnecttimeout", unsupported("set redisconnecttimeout")},
	{"rediscmdtimeout", unsupported("set rediscmdtimeout")},
	{"controltos", withArg((*Runner).setControlTOS)},
	{"deletedelay", withArg((*Runner).setDeleteDelay)},
}

func (r *Runner) set(rest string, b *strings.Builder) {
	withArg(func(r *Runner, arg string, b *strings.Builder) { r.dispatch(setHandlers, arg, b) })(r, rest, b)
}

// withArg makes a handler of fn, which needs a value after the keyword:
// without one the reply is rtpengine's "More parameters required."
func withArg(fn func(r *Runner, arg string, b *strings.Builder)) func(*Runner, string, *strings.Builder) {
	return func(r *Runner, rest string, b *strings.Builder) {
		arg, ok := shift(rest)
		if !ok {
			b.WriteString(moreParams)
			return
		}
		fn(r, arg, b)
	}
}

// strtol parses s as C's strtol in base 10: leading blanks, a sign,
// digits, the rest ignored; ok is false without digits.
func strtol(s string) (n int64, ok bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil { // out of range: C clamps
		if s[0] == '-' {
			return -1 << 63, true
		}
		return 1<<63 - 1, true
	}
	return n, true
}

// strtod parses the longest leading decimal number of s, as C's strtod
// does for plain decimals (looking at 64 characters at most); ok is false
// without one.
func strtod(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	for end < len(s) && end < 64 && strings.IndexByte("0123456789+-.eE", s[end]) >= 0 {
		end++
	}
	for ; end > 0; end-- {
		if v, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return v, true
		}
	}
	return 0, false
}

func (r *Runner) setMaxSessions(arg string, b *strings.Builder) {
	n, ok := strtol(arg)
	switch {
	case !ok:
		fmt.Fprintf(b, "Fail setting maxsessions to %s; no digists found\n", arg)
	case n < -1:
		fmt.Fprintf(b, "Fail setting maxsessions to %d; either positive or -1 values allowed\n", n)
	default:
		r.calls.SetLimits(func(l *call.Limits) { l.MaxSessions = int(n) })
		if n == -1 {
			fmt.Fprintf(b, "Success setting maxsessions to %d; disable feature\n", n)
		} else {
			fmt.Fprintf(b, "Success setting maxsessions to %d\n", n)
		}
		r.log.Info("max-sessions changed", "max-sessions", n)
	}
}

func setFloat(name, format string, apply func(*call.Limits, float64)) func(*Runner, string, *strings.Builder) {
	return withArg(func(r *Runner, arg string, b *strings.Builder) {
		v, ok := strtod(arg)
		if !ok {
			fmt.Fprintf(b, "Fail setting %s to %s; no digists found\n", name, arg)
			return
		}
		r.calls.SetLimits(func(l *call.Limits) { apply(l, v) })
		fmt.Fprintf(b, "Success setting %s to "+format+"\n", name, v)
	})
}

// setMaxBandwidth stores the value given; rtpengine 10.5 stores a
// hundred times it (and lists that), which mediad does not copy.
func (r *Runner) setMaxBandwidth(arg string, b *strings.Builder) {
	n, ok := strtol(arg)
	if !ok || n < 0 {
		fmt.Fprintf(b, "Fail setting maxbw to %s; no digists found\n", arg)
		return
	}
	r.calls.SetLimits(func(l *call.Limits) { l.MaxBandwidth = n })
	fmt.Fprintf(b, "Success setting maxbw to %d\n", n)
}

// setTimeout is rtpengine's cli_incoming_set_gentimeout, whose replies
// say "timeout" for all four timeouts.
func setTimeout(field func(*call.Limits) *time.Duration) func(*Runner, string, *strings.Builder) {
	return withArg(func(r *Runner, arg string, b *strings.Builder) {
		n, ok := strtol(arg)
		switch {
		case !ok:
			fmt.Fprintf(b, "Fail setting timeout to %s; no digists found\n", arg)
		case n < 0 || n >= 1<<31-1:
			fmt.Fprintf(b, "Fail setting timeout to %s; errno=0\n", arg)
		default:
			r.calls.SetLimits(func(l *call.Limits) { *field(l) = time.Duration(n) * time.Second })
			fmt.Fprintf(b, "Success setting timeout to %d\n", n)
		}
	})
}

func (r *Runner) setDeleteDelay(arg string, b *strings.Builder) {
	n, err := strconv.Atoi(arg) // str_to_i: the whole value
	if err != nil || n == -1 {
		b.WriteString("Invalid delete-delay value\n")
		return
	}
	r.calls.SetLimits(func(l *call.Limits) { l.DeleteDelay = time.Duration(n) * time.Second })
	fmt.Fprintf(b, "Success setting delete-delay to %d\n", n)
}
