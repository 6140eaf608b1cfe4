package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"sipmedia/kmod/nettopo"
)

// Payload header: call index (4), direction (1), sequence (4).
const headerLen = 9

type result struct {
	mode                string
	calls, pps          int
	offered             float64 // pps, both directions
	sent, delivered     uint64
	misrouted           uint64
	relayCPU, dur       float64 // relay CPU seconds, window seconds
	pathCPU             float64 // generator + relay + ksoftirqd CPU seconds
	busy, softirq       float64 // machine-wide CPU seconds (other load included)
	setup, warmup       time.Duration
	relayReads, kernPkt uint64
	dump, ctDump        time.Duration
	ctEntries           int
}

func (r result) print() {
	loss := 0.0
	if r.sent > 0 {
		loss = 100 * float64(r.sent-min(r.delivered, r.sent)) / float64(r.sent)
	}
	perPkt := func(sec float64) float64 {
		if r.delivered == 0 {
			return 0
		}
		return sec * 1e9 / float64(r.delivered)
	}
	pct := func(sec float64) string { return fmt.Sprintf("%.1f%%", 100*sec/r.dur) }
	fmt.Printf("%-8s %6d %9.0f %10d %10d %7.3f %9s %9.0f %9s %9.0f %8s %8s %9s\n",
		r.mode, r.calls, r.offered, r.sent, r.delivered, loss, pct(r.relayCPU), perPkt(r.relayCPU),
		pct(r.pathCPU), perPkt(r.pathCPU), pct(r.softirq), pct(r.busy), r.setup.Round(time.Millisecond))
	if target := float64(2 * r.calls * r.pps); r.offered < 0.95*target {
		fmt.Printf("       WARNING: generator offered %.0f of %.0f pps (host too busy): not a run at full load\n", r.offered, target)
	}
	fmt.Printf("       R_cpu(relay+softirq)=%s (%.0f ns/pkt) relay_reads=%d kernel_pkts=%d misrouted=%d",
		pct(r.relayCPU+r.softirq), perPkt(r.relayCPU+r.softirq), r.relayReads, r.kernPkt, r.misrouted)
	if r.warmup > 0 {
		fmt.Printf(" warmup=%s", r.warmup.Round(time.Second))
	}
	if r.mode == "kernel" { // stand-in only: mediad's counters are its own business
		fmt.Printf(" counters_dump=%s conntrack_dump=%s (%d entries) add=%s/flow",
			r.dump.Round(time.Microsecond), r.ctDump.Round(time.Microsecond), r.ctEntries,
			(r.setup / time.Duration(r.calls)).Round(time.Microsecond))
	}
	fmt.Println()
}

func runOne(opt options, mode string, calls int, log *slog.Logger) (res result, err error) {
	res.mode, res.calls, res.pps = mode, calls, opt.pps
	if opt.mediad != "" && mode != "direct" {
		res.mode = "m-" + mode
	}
	topo, err := nettopo.New()
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	a, err := bigSocket(topo.A, netip.AddrPortFrom(nettopo.AddrA, peerPort))
	if err != nil {
		return res, err
	}
	defer a.Close()
	b, err := bigSocket(topo.B, netip.AddrPortFrom(nettopo.AddrB, peerPort))
	if err != nil {
		return res, err
	}
	defer b.Close()

	var h *relayHandle
	if opt.mediad != "" && mode != "direct" {
		h, err = startMediad(opt, topo, mode, calls, log)
	} else {
		h, err = startStandIn(topo, mode, calls)
	}
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, h.stop()) }()
	res.setup = h.setup

	var recvA, recvB, mis atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(2)
	defer func() {
		a.Close()
		b.Close()
		wg.Wait()
	}()
	toFromRA, toFromRB := h.toFromRA, h.toFromRB
	if mode == "direct" {
		// Baseline: plain routing through R, no relay and no NAT.
		fixed := func(ap netip.AddrPort) func(int) netip.AddrPort { return func(int) netip.AddrPort { return ap } }
		toFromRA = fixed(netip.AddrPortFrom(nettopo.AddrB, peerPort))
		toFromRB = fixed(netip.AddrPortFrom(nettopo.AddrA, peerPort))
	}
	go receive(&wg, b, toFromRB, 0, calls, &recvB, &mis)
	go receive(&wg, a, toFromRA, 1, calls, &recvA, &mis)

	if h.ready != nil {
		// Traffic until the relay has latched (and, in kernel mode,
		// offloaded) every call; then the counters start from zero.
		t0 := time.Now()
		warm := opt
		warm.duration = time.Second
		for {
			var swg sync.WaitGroup
			swg.Add(2)
			go func() { defer swg.Done(); sendLoop(a, toFromRA, 0, calls, warm, time.Now()) }()
			go func() { defer swg.Done(); sendLoop(b, toFromRB, 1, calls, warm, time.Now()) }()
			swg.Wait()
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
		time.Sleep(500 * time.Millisecond)
		recvA.Store(0)
		recvB.Store(0)
		mis.Store(0)
		if err := h.mark(); err != nil {
			return res, err
		}
	}

	cpu0, err := readCPU()
	if err != nil {
		return res, err
	}
	rel0, err := procCPU(h.pid)
	if err != nil {
		return res, err
	}
	ksoft := ksoftirqdPids()
	ks0, self0 := sumProcCPU(ksoft), selfCPU()
	t0 := time.Now()
	var sentA, sentB uint64
	var swg sync.WaitGroup
	swg.Add(2)
	go func() { defer swg.Done(); sentA = sendLoop(a, toFromRA, 0, calls, opt, t0) }()
	go func() { defer swg.Done(); sentB = sendLoop(b, toFromRB, 1, calls, opt, t0) }()
	swg.Wait()
	res.dur = time.Since(t0).Seconds()
	cpu1, err := readCPU()
	if err != nil {
		return res, err
	}
	rel1, err := procCPU(h.pid)
	if err != nil {
		return res, err
	}
	ks1, self1 := sumProcCPU(ksoft), selfCPU()
	time.Sleep(300 * time.Millisecond) // in-flight tail
	st, err := h.finish()
	if err != nil {
		return res, err
	}
	res.relayReads, res.kernPkt, res.dump, res.ctDump, res.ctEntries = st.reads, st.kpkts, st.dump, st.ctDump, st.ctEntries
	a.Close()
	b.Close()
	wg.Wait()

	res.sent = sentA + sentB
	res.delivered = recvA.Load() + recvB.Load()
	res.misrouted = mis.Load()
	res.offered = float64(res.sent) / res.dur
	res.relayCPU = float64(rel1-rel0) / userHZ
	res.pathCPU = res.relayCPU + float64(ks1-ks0)/userHZ + (self1 - self0)
	res.busy = float64(cpu1.busy-cpu0.busy) / userHZ
	res.softirq = float64(cpu1.softirq-cpu0.softirq) / userHZ
	return res, nil
}

// bigSocket binds the generator's socket with large buffers so that the
// generator itself does not drop.
func bigSocket(ns netns.NsHandle, ap netip.AddrPort) (*net.UDPConn, error) {
	c, err := nettopo.ListenUDP(ns, ap)
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20))
	})
	if err = errors.Join(err, serr); err != nil {
		c.Close()
		return nil, fmt.Errorf("socket buffers: %w", err)
	}
	return c, nil
}

// sendLoop sends, for opt.duration, one packet per call every 1/pps
// seconds, the calls spread over 1 ms slots, batched with sendmmsg.
func sendLoop(c *net.UDPConn, dst func(int) netip.AddrPort, dir byte, calls int, opt options, start time.Time) uint64 {
	pc := ipv4.NewPacketConn(c)
	slots := max(1, 1000/opt.pps)
	period := time.Second / time.Duration(opt.pps) / time.Duration(slots)
	addrs := make([]*net.UDPAddr, calls)
	for i := range calls {
		addrs[i] = net.UDPAddrFromAddrPort(dst(i))
	}
	const batch = 64
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, opt.payload)}
	}
	seq := make([]uint32, calls)
	var sent uint64
	flush := func(n int) {
		for off := 0; off < n; {
			k, err := pc.WriteBatch(msgs[off:n], 0)
			if err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					time.Sleep(50 * time.Microsecond)
					continue
				}
				return
			}
			off += k
			sent += uint64(k)
		}
	}
	end := start.Add(opt.duration)
	next := start
	for slot := 0; ; slot = (slot + 1) % slots {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if !time.Now().Before(end) {
			break
		}
		n := 0
		for i := slot; i < calls; i += slots {
			buf := msgs[n].Buffers[0]
			binary.BigEndian.PutUint32(buf, uint32(i))
			buf[4] = dir
			binary.BigEndian.PutUint32(buf[5:], seq[i])
			seq[i]++
			msgs[n].Addr = addrs[i]
			n++
			if n == batch {
				flush(n)
				n = 0
			}
		}
		flush(n)
		next = next.Add(period)
	}
	return sent
}

// receive counts packets of direction dir arriving from call i's source.
func receive(wg *sync.WaitGroup, c *net.UDPConn, from func(int) netip.AddrPort, dir byte, calls int, got, mis *atomic.Uint64) {
	defer wg.Done()
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		for _, m := range msgs[:n] {
			ua, _ := m.Addr.(*net.UDPAddr)
			buf := m.Buffers[0][:m.N]
			if ua == nil || m.N < headerLen || buf[4] != dir {
				mis.Add(1)
				continue
			}
			idx := int(binary.BigEndian.Uint32(buf))
			src := ua.AddrPort()
			if idx >= calls || netip.AddrPortFrom(src.Addr().Unmap(), src.Port()) != from(idx) {
				mis.Add(1)
				continue
			}
			got.Add(1)
		}
	}
}
