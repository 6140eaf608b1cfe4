package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/loadgen"
	"sipmedia/ngproto"
)

// result is one daemon's measurement.
type result struct {
	name                  string
	calls                 int
	sent, delivered, lost uint64
	sendErrors            uint64
	windowPackets         uint64        // delivered during the CPU window
	cpu                   time.Duration // daemon CPU during the window
	rssBase, rssIdle      int64         // bytes
	idle                  int
	offeredPPS            float64
	windowTime            time.Duration
	rssBeforeMedia        int64 // bytes, before the media calls were set up
	rssAfterDelete        int64 // bytes, 2 s after they were deleted (last cycle)
	rssAfterFirst         int64 // bytes, 2 s after the first cycle's calls were deleted
	cycles                int
	err                   error
}

func (r *result) cpuPerPacket() float64 {
	if r.windowPackets == 0 {
		return 0
	}
	return r.cpu.Seconds() / float64(r.windowPackets)
}

// rssGrowth is the memory left behind by media calls: after the last cycle
// against after the first with several cycles, else against before.
func (r *result) rssGrowth() int64 {
	if r.cycles > 1 {
		return r.rssAfterDelete - r.rssAfterFirst
	}
	return r.rssAfterDelete - r.rssBeforeMedia
}

func (r *result) rssPerIdleCall() float64 {
	if r.idle == 0 {
		return 0
	}
	return float64(r.rssIdle-r.rssBase) / float64(r.idle)
}

func measure(ctx context.Context, cfg config, name, ng string, pid int, log *slog.Logger) (*result, error) {
	r := &result{name: name, calls: cfg.calls, idle: cfg.idle, cycles: max(1, cfg.cycles)}
	cl, err := ngproto.Dial(ng, ngproto.ClientConfig{Retries: 3, Interval: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lo := netip.MustParseAddr("127.0.0.1")

	// Phones: a few sockets per side shared by all calls.
	var aSocks, bSocks []*loadgen.Socket
	for range cfg.sockets {
		a, err := loadgen.Listen(lo)
		if err != nil {
			return nil, err
		}
		defer a.Close()
		b, err := loadgen.Listen(lo)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		aSocks, bSocks = append(aSocks, a), append(bSocks, b)
	}

	// 1. Memory: RSS growth with idle calls.
	if cfg.idle > 0 {
		time.Sleep(500 * time.Millisecond)
		if r.rssBase, err = rss(pid); err != nil {
			return nil, err
		}
		idle, err := setupCalls(ctx, cl, "idle", cfg.idle, cfg.setupWorkers, aSocks, bSocks)
		if err != nil {
			return nil, fmt.Errorf("idle calls: %w", err)
		}
		time.Sleep(time.Second)
		if r.rssIdle, err = rss(pid); err != nil {
			return nil, err
		}
		log.Info("idle calls", "daemon", name, "calls", cfg.idle, "rss_base", r.rssBase, "rss", r.rssIdle)
		if err := deleteCalls(ctx, cl, idle, cfg.setupWorkers); err != nil {
			return nil, fmt.Errorf("delete idle calls: %w", err)
		}
	}

	// 2. CPU per forwarded packet with media on cfg.calls calls, repeated
	// cfg.cycles times (the figures are the last cycle's; memory after the
	// last against after the first shows growth per cycle, i.e. leaks).
	if r.rssBeforeMedia, err = rss(pid); err != nil {
		return nil, err
	}
	for cycle := 1; cycle <= max(1, cfg.cycles); cycle++ {
		rxBase := uint64(0)
		for _, s := range append(append([]*loadgen.Socket(nil), aSocks...), bSocks...) {
			p, _ := s.Received()
			rxBase += p
		}
		calls, err := setupCalls(ctx, cl, fmt.Sprintf("media%d", cycle), cfg.calls, cfg.setupWorkers, aSocks, bSocks)
		if err != nil {
			return nil, fmt.Errorf("media calls: %w", err)
		}
		var flows []loadgen.Flow
		for _, c := range calls {
			flows = append(flows, loadgen.Flow{Socket: c.a, Dst: c.aDst}, loadgen.Flow{Socket: c.b, Dst: c.bDst})
		}
		rctx, stopRx := context.WithCancel(ctx)
		rx := loadgen.ReceiveAll(rctx, append(append([]*loadgen.Socket(nil), aSocks...), bSocks...))
		pctx, stopTx := context.WithCancel(ctx)
		pacer := &loadgen.Pacer{PPS: cfg.pps, Size: cfg.size}
		var txDone sync.WaitGroup
		txDone.Add(1)
		txStart := time.Now()
		go func() {
			defer txDone.Done()
			_ = pacer.Run(pctx, flows)
		}()
		received := func() uint64 {
			var n uint64
			for _, s := range append(append([]*loadgen.Socket(nil), aSocks...), bSocks...) {
				p, _ := s.Received()
				n += p
			}
			return n - rxBase
		}
		sleep(ctx, cfg.warmup)
		cpu0, err := daemon.ProcCPU(pid)
		if err != nil {
			stopTx()
			stopRx()
			return nil, err
		}
		rx0 := received()
		w0 := time.Now()
		sleep(ctx, cfg.duration)
		cpu1, err := daemon.ProcCPU(pid)
		rx1 := received()
		r.windowTime = time.Since(w0)
		stopTx()
		txDone.Wait()
		txTime := time.Since(txStart)
		// Drain: wait until nothing more arrives (a relay that fell behind
		// still delivers what it queued), at most 5 s.
		for last, still, t0 := received(), 0, time.Now(); still < 3 && time.Since(t0) < 5*time.Second; {
			sleep(ctx, 100*time.Millisecond)
			if n := received(); n == last {
				still++
			} else {
				last, still = n, 0
			}
		}
		stopRx()
		rx.Wait()
		if err != nil {
			return nil, err
		}
		r.cpu = cpu1 - cpu0
		r.windowPackets = rx1 - rx0
		r.sent, r.sendErrors = pacer.Sent()
		r.delivered = received()
		r.offeredPPS = float64(r.sent) / txTime.Seconds()
		log.Info("media", "daemon", name, "flows", len(flows), "send_time", txTime, "sent", r.sent, "pps", int(r.offeredPPS))
		if r.sent > r.delivered {
			r.lost = r.sent - r.delivered
		}
		if err := deleteCalls(ctx, cl, calls, cfg.setupWorkers); err != nil {
			return nil, fmt.Errorf("delete calls: %w", err)
		}
		// Soak check: memory after all calls are gone.
		sleep(ctx, cfg.settle)
		if r.rssAfterDelete, err = rss(pid); err != nil {
			return nil, err
		}
		if cycle == 1 {
			r.rssAfterFirst = r.rssAfterDelete
		}
		log.Info("media cycle done", "daemon", name, "cycle", cycle, "rss", r.rssAfterDelete)
	}
	return r, ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// benchCall is one call set up over NG.
type benchCall struct {
	id         string
	a, b       *loadgen.Socket
	aDst, bDst netip.AddrPort // where phone A / phone B send
}

const sdpTemplate = "v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

func setupCalls(ctx context.Context, cl *ngproto.Client, prefix string, n, workers int, aSocks, bSocks []*loadgen.Socket) ([]*benchCall, error) {
	calls := make([]*benchCall, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c := &benchCall{id: fmt.Sprintf("bench-%s-%d-%d", prefix, os.Getpid(), i), a: aSocks[i%len(aSocks)], b: bSocks[i%len(bSocks)]}
				if err := c.setup(ctx, cl, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				calls[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return calls, ctx.Err()
}

func (c *benchCall) setup(ctx context.Context, cl *ngproto.Client, i int) error {
	offer := ngproto.Dict{"command": "offer", "call-id": c.id, "from-tag": "a", "replace": []any{"origin"},
		"sdp": fmt.Sprintf(sdpTemplate, 1000+i, c.a.Addr().Port())}
	rep, err := cl.Do(ctx, offer)
	if err != nil {
		return fmt.Errorf("offer %s: %w", c.id, err)
	}
	if c.bDst, err = mediaAddr(rep); err != nil {
		return fmt.Errorf("offer %s: %w", c.id, err)
	}
	answer := ngproto.Dict{"command": "answer", "call-id": c.id, "from-tag": "a", "to-tag": "b", "replace": []any{"origin"},
		"sdp": fmt.Sprintf(sdpTemplate, 2000+i, c.b.Addr().Port())}
	if rep, err = cl.Do(ctx, answer); err != nil {
		return fmt.Errorf("answer %s: %w", c.id, err)
	}
	if c.aDst, err = mediaAddr(rep); err != nil {
		return fmt.Errorf("answer %s: %w", c.id, err)
	}
	return nil
}

// mediaAddr extracts c= and the first m= port from a reply's SDP.
func mediaAddr(rep ngproto.Dict) (netip.AddrPort, error) {
	if res, _ := rep["result"].(string); res != "ok" {
		return netip.AddrPort{}, fmt.Errorf("result %q: %v", res, rep["error-reason"])
	}
	sdp, _ := rep["sdp"].(string)
	var addr netip.Addr
	port := -1
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			addr, _ = netip.ParseAddr(v)
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok && port < 0 {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if !addr.IsValid() || port <= 0 {
		return netip.AddrPort{}, fmt.Errorf("no media address in SDP %q", sdp)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

func deleteCalls(ctx context.Context, cl *ngproto.Client, calls []*benchCall, workers int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(calls) || ctx.Err() != nil {
					return
				}
				rep, err := cl.Do(ctx, ngproto.Dict{"command": "delete", "call-id": calls[i].id, "from-tag": "a"})
				if err != nil || rep["result"] != "ok" {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d deletes failed", n)
	}
	return nil
}

// rss is VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

func printResults(out io.Writer, rs []*result) {
	fmt.Fprintf(out, "%-10s %6s %10s %10s %8s %7s %8s %8s %11s %9s %12s %10s\n",
		"daemon", "calls", "sent", "delivered", "lost", "loss%", "fwd-pps", "cpu-s", "cpu-us/pkt", "rss-base", "KiB/idle-call", "rss-growth")
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(out, "%-10s not measured: %v\n", r.name, r.err)
			continue
		}
		loss := 0.0
		if r.sent > 0 {
			loss = 100 * float64(r.lost) / float64(r.sent)
		}
		pps := 0.0
		if r.windowTime > 0 {
			pps = float64(r.windowPackets) / r.windowTime.Seconds()
		}
		fmt.Fprintf(out, "%-10s %6d %10d %10d %8d %7.3f %8.0f %8.2f %11.2f %8.1fM %12.1f %9.1fM\n",
			r.name, r.calls, r.sent, r.delivered, r.lost, loss, pps, r.cpu.Seconds(), r.cpuPerPacket()*1e6,
			float64(r.rssBase)/(1<<20), r.rssPerIdleCall()/1024, float64(r.rssGrowth())/(1<<20))
		if r.sendErrors > 0 {
			fmt.Fprintf(out, "  note: %s: %d send errors in the load generator\n", r.name, r.sendErrors)
		}
	}
	if len(rs) == 2 && rs[0].err == nil && rs[1].err == nil && rs[1].cpuPerPacket() > 0 && rs[1].rssPerIdleCall() != 0 {
		fmt.Fprintf(out, "mediad/rtpengine: CPU per packet %.2fx, RSS per idle call %.2fx\n",
			rs[0].cpuPerPacket()/rs[1].cpuPerPacket(), rs[0].rssPerIdleCall()/rs[1].rssPerIdleCall())
	}
}
