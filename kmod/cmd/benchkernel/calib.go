package main

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"sipmedia/kmod/nettopo"
)

// calibrate measures what the endpoints cost per packet, apart from R: A
// and B send calls' frames to R as in a run, and R counts and drops them at
// its devices' ingress, the same work B's and A's sinks do in a run. The
// CPU of this process and ksoftirqd per packet is that cost.
func calibrate(opt options, calls int, dur time.Duration) (nsPerPkt, pps float64, err error) {
	topo, err := nettopo.New()
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()
	r := topo.Name("r")
	if err := installSink(r, "ethA", nettopo.AddrA); err != nil {
		return 0, 0, err
	}
	if err := installSink(r, "ethB", nettopo.AddrB); err != nil {
		return 0, 0, err
	}
	macRA, err := nettopo.HardwareAddr(topo.R, "ethA")
	if err != nil {
		return 0, 0, err
	}
	macRB, err := nettopo.HardwareAddr(topo.R, "ethB")
	if err != nil {
		return 0, 0, err
	}
	to := func(a netip.Addr) func(int) netip.AddrPort {
		return func(int) netip.AddrPort { return netip.AddrPortFrom(a, peerPort) }
	}
	ep := &endpoints{topo: topo}
	defer func() { err = errors.Join(err, ep.Close()) }()
	if ep.sa, err = newBlaster(topo.A, "eth0", macRA, netip.AddrPortFrom(nettopo.AddrA, peerPort), to(nettopo.AddrRA), 0, calls, opt.payload); err != nil {
		return 0, 0, err
	}
	if ep.sb, err = newBlaster(topo.B, "eth0", macRB, netip.AddrPortFrom(nettopo.AddrB, peerPort), to(nettopo.AddrRB), 1, calls, opt.payload); err != nil {
		return 0, 0, err
	}
	o := opt
	o.duration = dur
	ksoft := ksoftirqdPids()
	ks0, self0 := sumProcCPU(ksoft), selfCPU()
	t0 := time.Now()
	sent := ep.send(calls, o)
	secs := time.Since(t0).Seconds()
	ks1, self1 := sumProcCPU(ksoft), selfCPU()
	ga, _, err := readSink(r, "ethA")
	if err != nil {
		return 0, 0, err
	}
	gb, _, err := readSink(r, "ethB")
	if err != nil {
		return 0, 0, err
	}
	if sent == 0 || ga+gb != sent {
		return 0, 0, fmt.Errorf("calibration: sent %d, R's sinks counted %d", sent, ga+gb)
	}
	cpu := self1 - self0 + float64(ks1-ks0)/userHZ
	return cpu * 1e9 / float64(sent), float64(sent) / secs, nil
}
