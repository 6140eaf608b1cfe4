// Command benchkernel compares userspace relaying with the kernel fast path
// in the A - R - B namespace topology: N calls, each 50 pps in each
// direction, a relay process in R (a stand-in with one goroutine per socket
// in "user" mode; bound but idle sockets plus kmod flows in "kernel" mode;
// idle in "direct" mode, where A and B address each other and R only
// routes: the baseline without relay or NAT), and one batched
// sender/receiver socket in A and in B.
//
// Run as root: go run ./kmod/cmd/benchkernel -calls 100,1000 -duration 5s
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
	calls    []int
	modes    []string
	pps      int
	duration time.Duration
	payload  int
	mediad   string // path of the mediad binary; "" runs the stand-in relay
}

func main() {
	role := flag.String("role", "", "internal: \"relay\" runs the R side")
	callsFlag := flag.String("calls", "100,1000", "comma-separated call counts")
	modesFlag := flag.String("modes", "direct,user,kernel", "comma-separated modes: direct (plain routing, baseline), user, kernel")
	pps := flag.Int("pps", 50, "packets per second per call and direction")
	duration := flag.Duration("duration", 5*time.Second, "traffic time per run")
	payload := flag.Int("payload", 172, "UDP payload bytes (G.711 20 ms RTP = 172)")
	mediadBin := flag.String("mediad", "", "mediad binary: user and kernel modes run the real daemon in R (-t -1 / -t 0, calls over NG) instead of the stand-in relay")
	ns := flag.String("ns", "", "internal: R's netns name (relay role)")
	mode := flag.String("mode", "", "internal: relay mode")
	n := flag.Int("n", 0, "internal: call count (relay role)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

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
	opt := options{pps: *pps, duration: *duration, payload: *payload, mediad: *mediadBin}
	for _, s := range strings.Split(*callsFlag, ",") {
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
	if opt.payload < headerLen || opt.pps < 1 {
		fmt.Fprintln(os.Stderr, "bad -payload or -pps")
		os.Exit(2)
	}
	if err := run(opt, log); err != nil {
		fmt.Fprintln(os.Stderr, "benchkernel:", err)
		os.Exit(1)
	}
}

func run(opt options, log *slog.Logger) error {
	fmt.Printf("benchkernel: %d pps/call/direction, %d-byte payload, %s per run, %d CPUs; /proc/stat is machine-wide (A, R, B and the generator share it)\n",
		opt.pps, opt.payload, opt.duration, numCPU())
	fmt.Printf("%-8s %6s %9s %10s %10s %7s %9s %9s %9s %9s %8s %8s %9s\n",
		"mode", "calls", "offer_pps", "sent", "delivered", "loss%", "relay_cpu", "relay_ns", "path_cpu", "path_ns", "softirq", "machine", "setup")
	for _, calls := range opt.calls {
		for _, mode := range opt.modes {
			res, err := runOne(opt, mode, calls, log)
			if err != nil {
				return fmt.Errorf("%s %d calls: %w", mode, calls, err)
			}
			res.print()
		}
	}
	fmt.Println("m-user/m-kernel: the real mediad in R (-mediad; -t -1 / -t 0 -F, calls over NG, measured after every call is latched")
	fmt.Println("  and, for m-kernel, offloaded); user/kernel: the stand-in relay. R_cpu: relay process + machine-wide softirq.")
	fmt.Println("relay_cpu: the relay process in R (mediad or the stand-in); path_cpu: generator (A and B endpoints, plus the veth")
	fmt.Println("  forwarding that runs inline in its send syscalls) + relay + ksoftirqd; *_ns: CPU ns per delivered packet;")
	fmt.Println("  softirq and machine: machine-wide /proc/stat (includes unrelated load on a shared host); % of one core.")
	fmt.Println("setup: binding sockets (+ offloading all flows in kernel mode); relay_reads: packets the relay process read.")
	return nil
}
