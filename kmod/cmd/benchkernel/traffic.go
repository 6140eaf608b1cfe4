package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"sipmedia/kmod/nettopo"
)

type result struct {
	mode                string
	calls, pps          int
	instances           int     // relay processes in R
	offered             float64 // pps, both directions
	sent, delivered     uint64
	misrouted           uint64
	dur                 float64 // window seconds
	relayCPU            float64 // relay process(es) CPU seconds
	genCPU              float64 // this process (the senders, with the softirq work inline in their syscalls)
	pathCPU             float64 // generator + relay + ksoftirqd: all CPU this run cost, each tick once
	endpointNs          float64 // calibrated cost of sending and counting one packet (A/B side)
	busy, softirq       float64 // machine-wide CPU seconds (other load included)
	rCore               float64 // -pin: CPU 1's busy seconds
	rcvbufErr, backlog  uint64  // R's UDP RcvbufErrors, machine-wide softnet drops
	setup, warmup       time.Duration
	relayReads, kernPkt uint64
	dump                time.Duration
}

func (r result) loss() float64 {
	if r.sent == 0 {
		return 0
	}
	return 100 * float64(r.sent-min(r.delivered, r.sent)) / float64(r.sent)
}

// target is the packet rate the calls should offer (both directions).
func (r result) target() float64 { return float64(2 * r.calls * r.pps) }

// fullLoad reports whether the generator offered (nearly) the whole rate:
// otherwise the run says nothing about carrying this many calls.
func (r result) fullLoad() bool { return r.offered >= 0.99*r.target() }

// zeroLoss is the pass criterion of the ceiling search.
func (r result) zeroLoss() bool {
	return r.sent > 0 && r.delivered == r.sent && r.misrouted == 0 && r.fullLoad()
}

// rCPU estimates R's total CPU seconds, softirq included: with tick-based
// accounting every tick is charged to the task it lands in, softirq run
// inline in a syscall included, so generator + relay + ksoftirqd is the
// whole cost of the run, once; minus the endpoints' calibrated share.
func (r result) rCPU() float64 {
	return max(r.relayCPU, r.pathCPU-r.endpointNs*float64(r.sent)/1e9)
}

func (r result) perPkt(sec float64) float64 {
	if r.delivered == 0 {
		return 0
	}
	return sec * 1e9 / float64(r.delivered)
}

const header = "%-8s %6s %4s %9s %10s %10s %7s %9s %8s %9s %8s %8s %8s %8s %8s\n"

func printHeader() {
	fmt.Printf(header, "mode", "calls", "inst", "offer_pps", "sent", "delivered", "loss%",
		"relay_cpu", "relay_ns", "R_cpu", "R_ns", "gen_cpu", "softirq", "machine", "setup")
}

func (r result) print() {
	pct := func(sec float64) string { return fmt.Sprintf("%.1f%%", 100*sec/r.dur) }
	fmt.Printf("%-8s %6d %4d %9.0f %10d %10d %7.3f %9s %8.0f %9s %8.0f %8s %8s %8s %8s\n",
		r.mode, r.calls, r.instances, r.offered, r.sent, r.delivered, r.loss(), pct(r.relayCPU), r.perPkt(r.relayCPU),
		pct(r.rCPU()), r.perPkt(r.rCPU()), pct(r.genCPU), pct(r.softirq), pct(r.busy),
		r.setup.Round(10*time.Millisecond))
	if !r.fullLoad() {
		fmt.Printf("       NOT FULL LOAD: generator offered %.0f of %.0f pps\n", r.offered, r.target())
	}
	fmt.Printf("       relay_reads=%d kernel_pkts=%d misrouted=%d R_rcvbuf_errors=%d backlog_drops=%d",
		r.relayReads, r.kernPkt, r.misrouted, r.rcvbufErr, r.backlog)
	if r.rCore > 0 {
		fmt.Printf(" R_core=%s (%.0f ns/pkt)", pct(r.rCore), r.perPkt(r.rCore))
	}
	if r.warmup > 0 {
		fmt.Printf(" warmup=%s", r.warmup.Round(time.Second))
	}
	if r.mode == "kernel" { // stand-in only: mediad's counters are its own business
		fmt.Printf(" counters_dump=%s add=%s/flow",
			r.dump.Round(time.Microsecond),
			(r.setup / time.Duration(r.calls)).Round(time.Microsecond))
	}
	fmt.Println()
}

// endpoints are A's and B's senders and counters.
type endpoints struct {
	topo   *nettopo.Topology
	sa, sb *blaster
}

// sink counts of both endpoints together.
func (e *endpoints) counts() (good, bad uint64, err error) {
	ga, ba, err := readSink(e.topo.Name("a"), "eth0")
	if err != nil {
		return 0, 0, err
	}
	gb, bb, err := readSink(e.topo.Name("b"), "eth0")
	return ga + gb, ba + bb, err
}

// quiesce waits until no packet arrives at the sinks for 300 ms (at most
// 20 s) and returns the counts.
func (e *endpoints) quiesce() (good, bad uint64, err error) {
	good, bad, err = e.counts()
	for deadline := time.Now().Add(20 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		var g, b uint64
		g, b, err = e.counts()
		if g == good && b == bad {
			break
		}
		good, bad = g, b
	}
	return good, bad, err
}

// send runs both directions for opt.duration from now.
func (e *endpoints) send(calls int, opt options) (sent uint64) {
	var wg sync.WaitGroup
	var sa, sb uint64
	start := time.Now()
	wg.Add(2)
	for _, side := range []struct {
		b *blaster
		n *uint64
	}{{e.sa, &sa}, {e.sb, &sb}} {
		go func() {
			defer wg.Done()
			if opt.pin {
				if err := pinThread(0); err != nil {
					return
				}
			}
			*side.n = sendLoop(side.b, calls, opt, start)
		}()
	}
	wg.Wait()
	return sa + sb
}

func (e *endpoints) Close() error {
	var errs []error
	if e.sa != nil {
		errs = append(errs, e.sa.Close())
	}
	if e.sb != nil {
		errs = append(errs, e.sb.Close())
	}
	return errors.Join(errs...)
}

// newEndpoints builds the senders (A to toFromRA(i), B to toFromRB(i)) and
// the counting sinks (A expects media from fromA, B from fromB).
func newEndpoints(topo *nettopo.Topology, calls int, opt options, toFromRA, toFromRB func(int) netip.AddrPort, fromA, fromB netip.Addr) (*endpoints, error) {
	e := &endpoints{topo: topo}
	macRA, err := nettopo.HardwareAddr(topo.R, "ethA")
	if err != nil {
		return nil, err
	}
	macRB, err := nettopo.HardwareAddr(topo.R, "ethB")
	if err != nil {
		return nil, err
	}
	if err := installSink(topo.Name("a"), "eth0", fromA); err != nil {
		return nil, err
	}
	if err := installSink(topo.Name("b"), "eth0", fromB); err != nil {
		return nil, err
	}
	e.sa, err = newBlaster(topo.A, "eth0", macRA, netip.AddrPortFrom(nettopo.AddrA, peerPort), toFromRA, 0, calls, opt.payload)
	if err != nil {
		return nil, err
	}
	e.sb, err = newBlaster(topo.B, "eth0", macRB, netip.AddrPortFrom(nettopo.AddrB, peerPort), toFromRB, 1, calls, opt.payload)
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func runOne(opt options, mode string, calls int, log *slog.Logger) (res result, err error) {
	res.mode, res.calls, res.pps, res.instances, res.endpointNs = mode, calls, opt.pps, 1, opt.endpointNs
	if opt.mediad != "" && mode != "direct" {
		res.mode = "m-" + mode
	}
	topo, err := nettopo.New()
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	if opt.pin {
		for _, s := range []struct{ ns, dev, mask string }{
			{topo.Name("r"), "ethA", "2"}, {topo.Name("r"), "ethB", "2"}, {topo.Name("a"), "eth0", "1"}, {topo.Name("b"), "eth0", "1"},
		} {
			if err := steerRx(s.ns, s.dev, s.mask); err != nil {
				return res, err
			}
		}
	}

	var h *relayHandle
	if opt.mediad != "" && mode != "direct" {
		h, err = startMediads(opt, topo, mode, calls, log)
	} else {
		h, err = startStandIn(topo, mode, calls, opt.pin)
	}
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, h.stop()) }()
	res.setup, res.instances = h.setup, len(h.pids)

	toFromRA, toFromRB := h.toFromRA, h.toFromRB
	fromA, fromB := nettopo.AddrRA, nettopo.AddrRB
	if mode == "direct" {
		// Baseline: plain routing through R, no relay and no NAT.
		fixed := func(ap netip.AddrPort) func(int) netip.AddrPort { return func(int) netip.AddrPort { return ap } }
		toFromRA = fixed(netip.AddrPortFrom(nettopo.AddrB, peerPort))
		toFromRB = fixed(netip.AddrPortFrom(nettopo.AddrA, peerPort))
		fromA, fromB = nettopo.AddrB, nettopo.AddrA
	}
	ep, err := newEndpoints(topo, calls, opt, toFromRA, toFromRB, fromA, fromB)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, ep.Close()) }()

	if h.ready != nil {
		// Traffic until the relay has latched (and, in kernel mode,
		// offloaded) every call; then the counters start from zero.
		t0 := time.Now()
		warm := opt
		warm.duration = time.Second
		for {
			ep.send(calls, warm)
			ok, err := h.ready()
			if err != nil {
				return res, err
			}
			if ok {
				break
			}
			if time.Since(t0) > 3*time.Minute {
				return res, fmt.Errorf("relay not ready after %s of warm-up traffic", time.Since(t0).Round(time.Second))
			}
		}
		res.warmup = time.Since(t0)
	}
	// Warm-up packets drain (a busy relay may still be forwarding queued
	// ones): wait opt.settle, then until the sinks stop counting.
	time.Sleep(opt.settle)
	good0, bad0, err := ep.quiesce()
	if err != nil {
		return res, err
	}
	if h.mark != nil {
		if err := h.mark(); err != nil {
			return res, err
		}
	}
	rcv0, err := nettopo.UDPStat(topo.R, "RcvbufErrors")
	if err != nil {
		return res, err
	}
	bl0 := softnetDrops()
	cpu0, err := readCPU()
	if err != nil {
		return res, err
	}
	core0, err := readCPUOf("cpu1")
	if err != nil && opt.pin {
		return res, err
	}
	rel0, err := sumProcCPUErr(h.pids)
	if err != nil {
		return res, err
	}
	ksoft := ksoftirqdPids()
	ks0, self0 := sumProcCPU(ksoft), selfCPU()
	t0 := time.Now()
	res.sent = ep.send(calls, opt)
	res.dur = time.Since(t0).Seconds()
	cpu1, err := readCPU()
	if err != nil {
		return res, err
	}
	core1, _ := readCPUOf("cpu1")
	rel1, err := sumProcCPUErr(h.pids)
	if err != nil {
		return res, err
	}
	ks1, self1 := sumProcCPU(ksoft), selfCPU()
	good1, bad1, err := ep.quiesce() // in-flight tail (relay socket queues)
	if err != nil {
		return res, err
	}
	rcv1, err := nettopo.UDPStat(topo.R, "RcvbufErrors")
	if err != nil {
		return res, err
	}
	res.backlog = softnetDrops() - bl0
	st, err := h.finish()
	if err != nil {
		return res, err
	}
	res.relayReads, res.kernPkt, res.dump = st.reads, st.kpkts, st.dump
	res.delivered, res.misrouted, res.rcvbufErr = good1-good0, bad1-bad0, rcv1-rcv0
	res.offered = float64(res.sent) / res.dur
	res.relayCPU = float64(rel1-rel0) / userHZ
	res.genCPU = self1 - self0
	res.pathCPU = res.relayCPU + res.genCPU + float64(ks1-ks0)/userHZ
	res.busy = float64(cpu1.busy-cpu0.busy) / userHZ
	res.softirq = float64(cpu1.softirq-cpu0.softirq) / userHZ
	if opt.pin {
		res.rCore = float64(core1.busy-core0.busy) / userHZ
	}
	return res, nil
}
