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

// The real daemon in R: two logical interfaces (A's and B's link), NG and
// CLI on R's loopback, one call per index set up over NG with A and B as
// the parties (both at peerPort on their address).
const (
	mediadNG  = "127.0.0.1:2223"
	mediadCLI = "127.0.0.1:9900"
)

var (
	sdpPort = regexp.MustCompile(`m=audio (\d+) `)
	sdpAddr = regexp.MustCompile(`c=IN IP4 ([0-9.]+)`)
)

func startMediad(opt options, topo *nettopo.Topology, mode string, calls int, log *slog.Logger) (*relayHandle, error) {
	table := "-1"
	if mode == "kernel" {
		table = "0"
	}
	// Four sockets per call plus the relay's duplicates: raise the
	// descriptor limit the daemon inherits.
	lim := unix.Rlimit{Cur: 1 << 18, Max: 1 << 18}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		// No CAP_SYS_RESOURCE: the hard limit stays.
		if gerr := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); gerr == nil {
			if lim.Cur < lim.Max {
				lim.Cur = lim.Max
				unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
			}
			if need := uint64(4*calls + 200); lim.Max < need {
				return nil, fmt.Errorf("%d calls need about %d descriptors in mediad (4 sockets per call), RLIMIT_NOFILE is %d and cannot be raised here: %w",
					calls, need, lim.Max, err)
			}
		}
	}
	args := []string{"netns", "exec", topo.Name("r"), opt.mediad, "--config-file=none", "-t", table,
		"-i", "a/" + nettopo.AddrRA.String(), "-i", "b/" + nettopo.AddrRB.String(),
		"-n", mediadNG, "-c", mediadCLI, "-m", "20000", "-M", "59999", "-f", "-E", "-L", "4", "--delete-delay", "0"}
	if mode == "kernel" {
		args = append(args, "-F") // the kernel mode must not silently measure userspace
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var ng *ngproto.Client
	stop := func() error {
		if ng != nil {
			ng.Close()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("mediad: %w", err)
			}
			return nil
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			return fmt.Errorf("mediad did not stop on SIGTERM: %w", <-done)
		}
	}
	fail := func(err error) (*relayHandle, error) { return nil, errors.Join(err, stop()) }
	start := time.Now()
	err := nettopo.Do(topo.R, func() error {
		var err error
		ng, err = ngproto.Dial(mediadNG, ngproto.ClientConfig{Retries: 3, Interval: time.Second})
		return err
	})
	if err != nil {
		return fail(err)
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := ng.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case err := <-done:
			done <- err
			return fail(fmt.Errorf("mediad exited at start: %v", err))
		default:
		}
		if i > 50 {
			return fail(fmt.Errorf("mediad does not answer ping: %w", err))
		}
	}
	ra, rb, err := setupCalls(ng, calls)
	if err != nil {
		return fail(err)
	}
	h := &relayHandle{pid: cmd.Process.Pid, setup: time.Since(start),
		toFromRA: func(i int) netip.AddrPort { return ra[i] },
		toFromRB: func(i int) netip.AddrPort { return rb[i] },
		stop:     stop}
	var base map[string]uint64
	h.ready = func() (bool, error) {
		tot, err := cliTotals(topo)
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
			time.Sleep(counterLag(calls)) // let the warm-up's kernel packets reach the counters
		}
		var err error
		base, err = cliTotals(topo)
		return err
	}
	h.finish = func() (relayStats, error) {
		if mode == "kernel" {
			time.Sleep(counterLag(calls))
		}
		tot, err := cliTotals(topo)
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

// setupCalls offers and answers calls 0..n-1 with a few requests in
// flight; it returns where A and B send call i's packets.
func setupCalls(ng *ngproto.Client, n int) (ra, rb []netip.AddrPort, err error) {
	ra, rb = make([]netip.AddrPort, n), make([]netip.AddrPort, n)
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
				id := fmt.Sprintf("bench-%d", i)
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
					errs = append(errs, fmt.Errorf("call %d: %w", i, err))
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
		return nil, nil, fmt.Errorf("%d of %d calls failed, first: %w", len(errs), n, errs[0])
	}
	return ra, rb, nil
}

// cliTotals reads "list totals" from the CLI port in R as name -> value
// (numeric lines only).
func cliTotals(topo *nettopo.Topology) (map[string]uint64, error) {
	var c net.Conn
	if err := nettopo.Do(topo.R, func() error {
		var err error
		c, err = net.DialTimeout("tcp", mediadCLI, 5*time.Second)
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
