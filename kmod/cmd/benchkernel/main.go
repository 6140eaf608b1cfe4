// Command benchkernel compares userspace relaying with the kernel fast path
// in the A - R - B namespace topology: N calls, each 50 pps in each
// direction, a relay in R (the real mediad with -mediad, as several
// instances when one process's descriptor limit is too small; otherwise a
// stand-in with one goroutine per socket in "user" mode, bound but idle
// sockets plus kmod flows in "kernel" mode; idle in "direct" mode, where A
// and B address each other and R only routes: the baseline without relay
// or NAT). A and B send ready-made frames from packet sockets and count
// what reaches them at their device's ingress hook (see gen.go, sink.go),
// so the generator costs as little as possible.
//
// It runs fixed call counts (-calls) and then, per mode, searches the
// highest call count carried with 0 loss (-ramp).
//
// Run as root: go run ./kmod/cmd/benchkernel -mediad bin/mediad
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

type options struct {
	calls      []int
	modes      []string
	pps        int
	duration   time.Duration
	settle     time.Duration
	slot       time.Duration // pacing: each slot sends its share of the calls in one burst
	pin        bool          // R on CPU 1 alone (relay pinned, R's devices steered there), endpoints on CPU 0
	payload    int
	mediad     string  // path of the mediad binary; "" runs the stand-in relay
	instances  int     // mediad processes in R; 0: as few as the descriptor limit allows
	endpointNs float64 // calibrated CPU ns per packet of the endpoints (send + count-and-drop)
	ramp       rampOptions
}

func main() {
	role := flag.String("role", "", "internal: \"relay\" runs the R side")
	callsFlag := flag.String("calls", "1000,5000", "comma-separated fixed call counts (empty: none)")
	modesFlag := flag.String("modes", "direct,user,kernel", "comma-separated modes: direct (plain routing, baseline), user, kernel")
	pps := flag.Int("pps", 50, "packets per second per call and direction")
	duration := flag.Duration("duration", 8*time.Second, "traffic time per fixed-count run")
	settle := flag.Duration("settle", time.Second, "quiet time after warm-up before each measured window")
	slot := flag.Duration("slot", 20*time.Millisecond, "pacing slot: the 1/pps period is cut into slots, each sending its share of the calls in one burst (each wake-up costs tens of µs on this VM: 1ms slots doubled the generator's cost per packet at 100 kpps)")
	pin := flag.Bool("pin", false, "give R its own core: relay pinned to CPU 1 and R's receive processing steered there (RPS); senders and A's/B's receive on CPU 0 (use with -slot 1ms: R's input backlog holds 1000 packets)")
	payload := flag.Int("payload", 172, "UDP payload bytes (G.711 20 ms RTP = 172)")
	mediadBin := flag.String("mediad", "", "mediad binary: user and kernel modes run the real daemon in R (-t -1 / -t k, calls over NG) instead of the stand-in relay")
	instances := flag.Int("instances", 0, "mediad instances in R, each with its own port range, NG/CLI port and table (0: as few as RLIMIT_NOFILE allows)")
	ramp := flag.Bool("ramp", true, "search each relay mode's highest call count with 0 loss")
	rampDur := flag.Duration("ramp-duration", 6*time.Second, "traffic time per ramp step")
	rampStart := flag.Int("ramp-start", 1000, "first call count of the ramp (doubled until a step fails, then bisected)")
	rampMax := flag.Int("ramp-max", 12000, "highest call count the ramp tries")
	rampRes := flag.Float64("ramp-res", 0.05, "ramp resolution, relative (at least 50 calls)")
	tries := flag.Int("tries", 2, "runs per ramp step: a step passes if one of them has 0 loss at full load (the host is shared)")
	ns := flag.String("ns", "", "internal: R's netns name (relay role)")
	mode := flag.String("mode", "", "internal: relay mode")
	n := flag.Int("n", 0, "internal: call count (relay role)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if *role == "relay" {
		if err := runRelay(*ns, *mode, *n, log); err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		return
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "benchkernel needs root (network namespaces, nftables)")
		os.Exit(2)
	}
	opt := options{pps: *pps, duration: *duration, settle: *settle, slot: *slot, pin: *pin, payload: *payload, mediad: *mediadBin, instances: *instances,
		ramp: rampOptions{on: *ramp, duration: *rampDur, start: *rampStart, max: *rampMax, res: *rampRes, tries: max(1, *tries)}}
	for _, s := range strings.Split(*callsFlag, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 || v > maxCalls {
			fmt.Fprintf(os.Stderr, "bad -calls entry %q (1..%d)\n", s, maxCalls)
			os.Exit(2)
		}
		opt.calls = append(opt.calls, v)
	}
	for _, m := range strings.Split(*modesFlag, ",") {
		if m != "user" && m != "kernel" && m != "direct" {
			fmt.Fprintf(os.Stderr, "bad mode %q\n", m)
			os.Exit(2)
		}
		opt.modes = append(opt.modes, m)
	}
	if opt.pin && numCPU() < 2 {
		fmt.Fprintln(os.Stderr, "-pin needs 2 CPUs")
		os.Exit(2)
	}
	if opt.payload < headerLen || opt.pps < 1 || opt.pps > 1000 || opt.ramp.start < 1 || opt.ramp.max > maxCalls {
		fmt.Fprintln(os.Stderr, "bad -payload, -pps, -ramp-start or -ramp-max")
		os.Exit(2)
	}
	if err := run(opt, log); err != nil {
		fmt.Fprintln(os.Stderr, "benchkernel:", err)
		os.Exit(1)
	}
}

func run(opt options, log *slog.Logger) error {
	fmt.Printf("benchkernel: %d pps/call/direction, %d-byte payload, %d CPUs, RLIMIT_NOFILE %d; /proc/stat is machine-wide (A, R, B and the generator share it)\n",
		opt.pps, opt.payload, numCPU(), fdLimit())
	if opt.mediad != "" {
		inst := "as few as RLIMIT_NOFILE allows (4 descriptors per call)"
		if opt.instances > 0 {
			inst = strconv.Itoa(opt.instances)
		}
		fmt.Printf("relay: %s in R, instances: %s; each its own media ports (of %d-%d), NG/CLI port and, in kernel mode, table (-t k)\n",
			opt.mediad, inst, mediaPortMin, mediaPortMax)
	}
	ns, pps, err := calibrate(opt, 1000, 3*time.Second)
	if err != nil {
		return err
	}
	opt.endpointNs = ns
	fmt.Printf("endpoints (A and B sending frames + counting and dropping at ingress), calibrated without R: %.0f ns/pkt at %.0f pps\n", ns, pps)
	if opt.pin {
		fmt.Println("pinned: R (relay processes and, by RPS, the receive processing of R's devices) on CPU 1 alone; senders and A's/B's receive processing on CPU 0; R_core: CPU 1 busy (machine-wide view of that CPU)")
	}
	if len(opt.calls) > 0 {
		fmt.Printf("fixed call counts, %s of traffic each:\n", opt.duration)
		printHeader()
		for _, calls := range opt.calls {
			for _, mode := range opt.modes {
				res, err := runOne(opt, mode, calls, log)
				if err != nil {
					return fmt.Errorf("%s %d calls: %w", mode, calls, err)
				}
				res.print()
			}
		}
	}
	if opt.ramp.on {
		if err := runRamps(opt, log); err != nil {
			return err
		}
	}
	fmt.Println("m-user/m-kernel: the real mediad in R (-mediad; -t -1 / -t k -F, calls over NG, measured after every call is latched")
	fmt.Println("  and, for m-kernel, offloaded); user/kernel: the stand-in relay; inst: relay processes in R.")
	fmt.Println("relay_cpu: the relay process(es) in R (with softirq run inline in their syscalls); gen_cpu: the senders (with the")
	fmt.Println("  softirq, i.e. R's forwarding, run inline in their sendmmsg); R_cpu: R's total, softirq included = relay + gen +")
	fmt.Println("  ksoftirqd (tick accounting charges each tick to one task, so this is the run's whole cost once, other load")
	fmt.Println("  excluded) minus the endpoints' calibrated cost; *_ns: CPU ns per delivered packet; softirq and machine:")
	fmt.Println("  machine-wide /proc/stat (includes unrelated load on a shared host); % of one core.")
	fmt.Println("R_rcvbuf_errors: datagrams R's sockets dropped (relay too slow); backlog_drops: softnet input-queue drops.")
	return nil
}
