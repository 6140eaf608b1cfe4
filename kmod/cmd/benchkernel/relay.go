package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"

	"sipmedia/kmod"
	"sipmedia/kmod/nettopo"
)

const (
	basePort = 20000
	maxCalls = 13000
	peerPort = 50000
)

func callPort(i int) uint16 { return uint16(basePort + i) }

// callFlow is call i: A (one socket for all calls) <-> R:port(i) on A's
// link ... R:port(i) on B's link <-> B.
func callFlow(i int) kmod.Flow {
	return kmod.Flow{
		LocalA: netip.AddrPortFrom(nettopo.AddrRA, callPort(i)),
		PeerA:  netip.AddrPortFrom(nettopo.AddrA, peerPort),
		LocalB: netip.AddrPortFrom(nettopo.AddrRB, callPort(i)),
		PeerB:  netip.AddrPortFrom(nettopo.AddrB, peerPort),
	}
}

// runRelay is the R side: it binds two sockets per call, forwards in
// userspace ("user") or offloads every call ("kernel"), prints READY, and
// on stdin EOF prints STATS and exits.
func runRelay(nsName, mode string, n int, log *slog.Logger) error {
	ns, err := netns.GetFromName(nsName)
	if err != nil {
		return err
	}
	defer ns.Close()
	start := time.Now()
	var reads atomic.Uint64
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for i := range n {
		f := callFlow(i)
		a, err := nettopo.ListenUDP(ns, f.LocalA)
		if err != nil {
			return err
		}
		conns = append(conns, a)
		b, err := nettopo.ListenUDP(ns, f.LocalB)
		if err != nil {
			return err
		}
		conns = append(conns, b)
		wg.Add(2)
		go forward(&wg, &reads, a, b, f.PeerB, mode == "user")
		go forward(&wg, &reads, b, a, f.PeerA, mode == "user")
	}
	var off *kmod.Offloader
	if mode == "kernel" {
		off, err = kmod.Open(context.Background(), kmod.Config{Table: 0, PortMin: basePort, PortMax: basePort + maxCalls - 1,
			NetNS: int(ns), Log: log})
		if err != nil {
			return err
		}
		defer off.Close()
		for i := range n {
			if err := off.Add(callFlow(i)); err != nil {
				return err
			}
		}
	}
	fmt.Printf("READY %d\n", time.Since(start).Nanoseconds())
	io.Copy(io.Discard, os.Stdin)

	var kpkts uint64
	var dump time.Duration
	if off != nil {
		t0 := time.Now()
		all, err := off.AllCounters()
		dump = time.Since(t0)
		if err != nil {
			return err
		}
		for _, st := range all {
			kpkts += st.Total().Packets
		}
		t0 = time.Now()
		if err := off.Close(); err != nil {
			return err
		}
		log.Info("offloader closed", "flows", n, "took", time.Since(t0))
	}
	fmt.Printf("STATS %d %d %d\n", reads.Load(), kpkts, dump.Nanoseconds())
	return nil
}

// forward is the stand-in relay loop of one socket: count, and in user mode
// send to the other side's peer from the other socket.
func forward(wg *sync.WaitGroup, reads *atomic.Uint64, in, out *net.UDPConn, to netip.AddrPort, relay bool) {
	defer wg.Done()
	buf := make([]byte, 2048)
	for {
		k, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		reads.Add(1)
		if relay {
			out.WriteToUDPAddrPort(buf[:k], to)
		}
	}
}

// relayHandle is the relay process under test in R, whichever it is.
type relayHandle struct {
	pids               []int // relay processes
	setup              time.Duration
	toFromRA, toFromRB func(int) netip.AddrPort // where call i's packets go / come from, per side
	// ready, if set, reports after each second of warm-up traffic whether
	// the relay has latched (and offloaded) every call; mark then starts
	// the measured window's counters.
	ready func() (bool, error)
	mark  func() error
	// finish returns the counters of the measured window.
	finish func() (relayStats, error)
	stop   func() error
}

type relayStats struct {
	reads, kpkts uint64
	dump         time.Duration
}

// startStandIn starts this program's stand-in relay in R.
func startStandIn(topo *nettopo.Topology, mode string, calls int, pin bool) (*relayHandle, error) {
	args := []string{"-role", "relay", "-ns", topo.Name("r"), "-mode", mode, "-n", fmt.Sprint(calls)}
	cmd := exec.Command(os.Args[0], args...)
	if pin {
		cmd = exec.Command("taskset", append([]string{"-c", "1", os.Args[0]}, args...)...)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() error {
		stdin.Close()
		if werr := cmd.Wait(); werr != nil {
			return fmt.Errorf("relay process: %w", werr)
		}
		return nil
	}
	lines := bufio.NewScanner(stdout)
	var setupNs int64
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "READY") {
		err := fmt.Errorf("relay did not start: %q", lines.Text())
		return nil, errors.Join(err, stop())
	}
	fmt.Sscanf(lines.Text(), "READY %d", &setupNs)
	viaR := func(r netip.Addr) func(int) netip.AddrPort {
		return func(i int) netip.AddrPort { return netip.AddrPortFrom(r, callPort(i)) }
	}
	h := &relayHandle{pids: []int{cmd.Process.Pid}, setup: time.Duration(setupNs),
		toFromRA: viaR(nettopo.AddrRA), toFromRB: viaR(nettopo.AddrRB), stop: stop}
	h.finish = func() (relayStats, error) {
		var st relayStats
		stdin.Close()
		if lines.Scan() {
			var dumpNs int64
			fmt.Sscanf(lines.Text(), "STATS %d %d %d", &st.reads, &st.kpkts, &dumpNs)
			st.dump = time.Duration(dumpNs)
		}
		return st, nil
	}
	return h, nil
}
