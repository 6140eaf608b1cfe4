package main

import (
	"fmt"
	"log/slog"
	"time"
)

type rampOptions struct {
	on       bool
	duration time.Duration
	start    int
	max      int
	res      float64
	tries    int
}

// ceiling is the outcome of one mode's search.
type ceiling struct {
	mode       string
	best, fail *result // highest passing and lowest failing step (nil: none)
}

// runRamps searches each relay mode's 0-loss ceiling and prints the ratio.
func runRamps(opt options, log *slog.Logger) error {
	step := opt
	step.duration = opt.ramp.duration
	fmt.Printf("ceiling search: %s of traffic per step, settle %s, up to %d run(s) per step; a step passes with 0 loss, nothing misrouted and >= 99%% of the rate offered\n",
		step.duration, step.settle, opt.ramp.tries)
	printHeader()
	var cs []ceiling
	for _, mode := range opt.modes {
		if mode == "direct" {
			continue
		}
		c, err := searchCeiling(step.ramp, func(n int) (result, bool, error) { return rampStep(step, mode, n, log) })
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	fmt.Println("0-loss ceilings:")
	var user, kern int
	for _, c := range cs {
		line := fmt.Sprintf("  %-8s ", c.mode)
		if c.best != nil {
			b := c.best
			line += fmt.Sprintf("%5d calls (%d inst, %.0f pps offered) relay %.0f ns/pkt, R %.0f ns/pkt (softirq included), machine %.0f%%",
				b.calls, b.instances, b.offered, b.perPkt(b.relayCPU), b.perPkt(b.rCPU()), 100*b.busy/b.dur)
			switch c.mode {
			case "user", "m-user":
				user = b.calls
			case "kernel", "m-kernel":
				kern = b.calls
			}
		} else {
			line += "none (even the smallest step lost packets)"
		}
		if f := c.fail; f != nil {
			line += fmt.Sprintf("; %d calls failed: loss %.3f%%, offered %.0f of %.0f pps, R_rcvbuf_errors %d, backlog_drops %d, machine %.0f%%",
				f.calls, f.loss(), f.offered, f.target(), f.rcvbufErr, f.backlog, 100*f.busy/f.dur)
		} else {
			line += "; no step failed (reached -ramp-max)"
		}
		fmt.Println(line)
	}
	if user > 0 && kern > 0 {
		fmt.Printf("kernel/user 0-loss ceiling ratio: %.2fx (%d / %d calls)\n", float64(kern)/float64(user), kern, user)
	}
	// What the per-packet costs imply for an otherwise idle host, and for
	// R alone: the ceilings above are bounded by whatever else runs here.
	var rns [2]float64 // user, kernel
	for _, c := range cs {
		if c.best == nil {
			continue
		}
		v := c.best.perPkt(c.best.rCPU())
		switch c.mode {
		case "user", "m-user":
			rns[0] = v
		case "kernel", "m-kernel":
			rns[1] = v
		}
	}
	if rns[0] > 0 && rns[1] > 0 {
		calls := func(ns float64) float64 { return float64(numCPU()) * 1e9 / ns / float64(2*opt.pps) }
		e := opt.endpointNs
		fmt.Printf("projection from the per-packet costs at the ceilings (endpoints %.0f ns/pkt, R user %.0f, R kernel %.0f):\n", e, rns[0], rns[1])
		fmt.Printf("  %d idle cores shared with the endpoints: user %.0f calls, kernel %.0f calls, ratio %.2fx\n",
			numCPU(), calls(e+rns[0]), calls(e+rns[1]), (e+rns[0])/(e+rns[1]))
		fmt.Printf("  R's own CPU per call (R on dedicated cores): ratio %.2fx; 5x would need R kernel <= %.0f ns/pkt\n",
			rns[0]/rns[1], rns[0]/5)
	}
	return nil
}

// searchCeiling doubles the call count from opt.ramp.start until a step
// fails (or ramp.max passes), then bisects between the highest pass and
// the lowest failure down to the resolution.
func searchCeiling(ro rampOptions, step func(calls int) (result, bool, error)) (ceiling, error) {
	var c ceiling
	lo, hi := 0, 0 // highest pass, lowest failure (0: none yet)
	n := min(ro.start, ro.max)
	for {
		r, pass, err := step(n)
		if err != nil {
			return c, fmt.Errorf("ramp %d calls: %w", n, err)
		}
		c.mode = r.mode
		if pass {
			lo, c.best = n, &r
		} else {
			hi, c.fail = n, &r
		}
		switch {
		case hi == 0:
			if n >= ro.max {
				return c, nil
			}
			n = min(2*n, ro.max)
		case lo == 0:
			if n <= 50 {
				return c, nil
			}
			n = max(50, roundCalls(n/2))
		default:
			if hi-lo <= max(50, int(float64(lo)*ro.res)) {
				return c, nil
			}
			n = roundCalls((lo + hi) / 2)
			if n <= lo || n >= hi {
				return c, nil
			}
		}
	}
}

func roundCalls(n int) int { return (n + 5) / 10 * 10 }

// rampStep runs up to opt.ramp.tries times until one run has 0 loss.
func rampStep(opt options, mode string, calls int, log *slog.Logger) (result, bool, error) {
	var r result
	for range opt.ramp.tries {
		var err error
		r, err = runOne(opt, mode, calls, log)
		if err != nil {
			return r, false, err
		}
		r.print()
		if r.zeroLoss() {
			return r, true, nil
		}
	}
	return r, false, nil
}
