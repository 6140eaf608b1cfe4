package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/kmod/nettopo"
	"sipmedia/ngproto"
)

// The real daemons in R: each with two logical interfaces (A's and B's
// link), NG and CLI on R's loopback (ports per instance), its own slice of
// the media port range and, in kernel mode, its own nftables table (-t k);
// one call per index, set up over NG with A and B as the parties (both at
// peerPort on their address). Several instances are how an operator runs
// more calls than one process's descriptor limit allows (rtpengine: one
// table per instance).
const (
	mediadNGPort  = 2223
	mediadCLIPort = 9900
	// R's media ports, shared out between the instances.
	mediaPortMin = 10000
	mediaPortMax = 65000
	fdsPerCall   = 4   // RTP and RTCP sockets on both sides
	fdsSpare     = 200 // the daemon's own descriptors
)

var (
	sdpPort = regexp.MustCompile(`m=audio (\d+) `)
	sdpAddr = regexp.MustCompile(`c=IN IP4 ([0-9.]+)`)
)

// fdLimit raises this process's descriptor limit (inherited by mediad) as
// far as it goes and returns it.
func fdLimit() uint64 {
	lim := unix.Rlimit{Cur: 1 << 18, Max: 1 << 18}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		return lim.Max
	}
	// No CAP_SYS_RESOURCE: the hard limit stays.
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	return lim.Max
}

// instancesFor is how many mediad processes calls need: opt.instances, or
// (0) as few as the descriptor limit allows.
func instancesFor(opt options, calls int) (int, error) {
	lim := fdLimit()
	n := opt.instances
	if n <= 0 {
		per := max(1, (int(lim)-fdsSpare)/fdsPerCall)
		n = (calls + per - 1) / per
	}
	if per := (calls + n - 1) / n; uint64(per*fdsPerCall+fdsSpare) > lim {
		return 0, fmt.Errorf("%d calls in %d mediad instance(s) need about %d descriptors each, RLIMIT_NOFILE is %d (use more -instances)",
			calls, n, per*fdsPerCall+fdsSpare, lim)
	}
	if ports := (mediaPortMax - mediaPortMin + 1) / n; ports < fdsPerCall*((calls+n-1)/n) {
		return 0, fmt.Errorf("%d calls do not fit R's media ports %d-%d", calls, mediaPortMin, mediaPortMax)
	}
	return n, nil
}

// startMediads starts the instances, sets up calls k*calls/n..(k+1)*calls/n-1
// on instance k, and returns them as one relay.
func startMediads(opt options, topo *nettopo.Topology, mode string, calls int, log *slog.Logger) (*relayHandle, error) {
	n, err := instancesFor(opt, calls)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	ra, rb := make([]netip.AddrPort, calls), make([]netip.AddrPort, calls)
	var ms []*mediad
	stopAll := func() error {
		var errs []error
		for _, m := range ms {
			errs = append(errs, m.stop())
		}
		return errors.Join(errs...)
	}
	span := (mediaPortMax - mediaPortMin + 1) / n
	for k := range n {
		m, err := startMediad(opt, topo, mode, k, mediaPortMin+k*span, mediaPortMin+(k+1)*span-1)
		if err != nil {
			return nil, errors.Join(err, stopAll())
		}
		ms = append(ms, m)
	}
	// Set up the instances' calls in parallel: setup time is NG round trips.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := k*calls/n, (k+1)*calls/n
			errs[k] = setupCalls(m.ng, lo, ra[lo:hi], rb[lo:hi])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, stopAll())
	}
	h := &relayHandle{setup: time.Since(start),
		toFromRA: func(i int) netip.AddrPort { return ra[i] },
		toFromRB: func(i int) netip.AddrPort { return rb[i] },
		stop:     stopAll}
	for _, m := range ms {
		h.pids = append(h.pids, m.pid)
	}
	totals := func() (map[string]uint64, error) {
		sum := make(map[string]uint64)
		for _, m := range ms {
			t, err := cliTotals(topo, m.cli)
			if err != nil {
				return nil, err
			}
			for k, v := range t {
				sum[k] += v
			}
		}
		return sum, nil
	}
	var base map[string]uint64
	h.ready = func() (bool, error) {
		tot, err := totals()
		if err != nil {
			return false, err
		}
		if mode == "kernel" {
			k := tot["Kernel-only media streams"]
			log.Info("warm-up", "kernelized_streams", k, "want", 2*calls)
			return k >= uint64(2*calls), nil
		}
		// Userspace: every call has been latched by now (1 s of traffic).
		return true, nil
	}
	h.mark = func() error {
		if mode == "kernel" {
			time.Sleep(counterLag(calls / n)) // let the warm-up's kernel packets reach the counters
		}
		var err error
		base, err = totals()
		return err
	}
	h.finish = func() (relayStats, error) {
		if mode == "kernel" {
			time.Sleep(counterLag(calls / n))
		}
		tot, err := totals()
		if err != nil {
			return relayStats{}, err
		}
		return relayStats{
			reads: tot["Total relayed packets (userspace)"] - base["Total relayed packets (userspace)"],
			kpkts: tot["Total relayed packets (kernel)"] - base["Total relayed packets (kernel)"],
		}, nil
	}
	return h, nil
}

// mediad is one running daemon.
type mediad struct {
	pid  int
	ng   *ngproto.Client
	cli  string
	stop func() error
}

// startMediad starts instance k (table k in kernel mode) on ports lo..hi
// and waits until it answers NG pings.
func startMediad(opt options, topo *nettopo.Topology, mode string, k, lo, hi int) (*mediad, error) {
	table := "-1"
	if mode == "kernel" {
		table = strconv.Itoa(k)
	}
	ngAddr := fmt.Sprintf("127.0.0.1:%d", mediadNGPort+k)
	m := &mediad{cli: fmt.Sprintf("127.0.0.1:%d", mediadCLIPort+k)}
	args := []string{"netns", "exec", topo.Name("r"), opt.mediad, "--config-file=none", "-t", table,
		"-i", "a/" + nettopo.AddrRA.String(), "-i", "b/" + nettopo.AddrRB.String(),
		"-n", ngAddr, "-c", m.cli, "-m", strconv.Itoa(lo), "-M", strconv.Itoa(hi), "-f", "-E", "-L", "4", "--delete-delay", "0"}
	if mode == "kernel" {
		args = append(args, "-F") // the kernel mode must not silently measure userspace
	}
	cmd := exec.Command("ip", args...)
	if opt.pin {
		cmd = exec.Command("taskset", append([]string{"-c", "1", "ip"}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m.pid = cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	m.stop = func() error {
		if m.ng != nil {
			m.ng.Close()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("mediad %d: %w", k, err)
			}
			return nil
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			return fmt.Errorf("mediad %d did not stop on SIGTERM: %w", k, <-done)
		}
	}
	fail := func(err error) (*mediad, error) { return nil, errors.Join(err, m.stop()) }
	err := nettopo.Do(topo.R, func() error {
		var err error
		m.ng, err = ngproto.Dial(ngAddr, ngproto.ClientConfig{Retries: 3, Interval: time.Second})
		return err
	})
	if err != nil {
		return fail(err)
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := m.ng.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			return fail(fmt.Errorf("mediad %d exited at start: %v", k, err))
		default:
		}
		if i > 50 {
			return fail(fmt.Errorf("mediad %d does not answer ping: %w", k, err))
		}
	}
	return m, nil
}

// setupCalls offers and answers calls first..first+len(ra)-1 with a few
// requests in flight; ra[j] and rb[j] get where A and B send call first+j's
// packets.
func setupCalls(ng *ngproto.Client, first int, ra, rb []netip.AddrPort) error {
	n := len(ra)
	sdp := func(a netip.Addr) string {
		return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=sendrecv\r\n", a, a, peerPort)
	}
	relayOf := func(r ngproto.Dict) (netip.AddrPort, error) {
		m, c := sdpPort.FindStringSubmatch(r.Str("sdp")), sdpAddr.FindStringSubmatch(r.Str("sdp"))
		if r.Str("result") != "ok" || m == nil || c == nil {
			return netip.AddrPort{}, fmt.Errorf("NG reply %v", r)
		}
		p, _ := strconv.Atoi(m[1])
		a, err := netip.ParseAddr(c[1])
		return netip.AddrPortFrom(a, uint16(p)), err
	}
	ctx := context.Background()
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := fmt.Sprintf("bench-%d", first+i)
				dir := []any{"a", "b"}
				r, err := ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "a", "sdp": sdp(nettopo.AddrA), "direction": dir})
				if err == nil {
					rb[i], err = relayOf(r)
				}
				if err == nil {
					r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": id, "from-tag": "a", "to-tag": "b", "sdp": sdp(nettopo.AddrB), "direction": dir})
				}
				if err == nil {
					ra[i], err = relayOf(r)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("call %d: %w", first+i, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d calls failed, first: %w", len(errs), n, errs[0])
	}
	return nil
}

// cliTotals reads "list totals" from the CLI port in R as name -> value
// (numeric lines only).
func cliTotals(topo *nettopo.Topology, cli string) (map[string]uint64, error) {
	var c net.Conn
	if err := nettopo.Do(topo.R, func() error {
		var err error
		c, err = net.DialTimeout("tcp", cli, 5*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "list totals\n"); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64)
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			m[strings.TrimSpace(k)] = n
		}
	}
	return m, nil
}

// counterLag is how long the daemon may take to publish kernel counters:
// it dumps them every second, every flows/2000 seconds beyond 2000 flows
// (one flow per call here: RTP only).
func counterLag(calls int) time.Duration {
	return 1200*time.Millisecond + time.Duration(calls/2000)*time.Second
}
