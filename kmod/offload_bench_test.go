package kmod

import (
	"context"
	"net/netip"
	"testing"

	"sipmedia/kmod/nettopo"
)

func benchFlow(i int) Flow {
	return Flow{
		LocalA: netip.AddrPortFrom(nettopo.AddrRA, uint16(20000+i)),
		PeerA:  netip.AddrPortFrom(nettopo.AddrA, uint16(1000+i%60000)),
		LocalB: netip.AddrPortFrom(nettopo.AddrRB, uint16(20000+i)),
		PeerB:  netip.AddrPortFrom(nettopo.AddrB, uint16(1000+i%60000)),
	}
}

func benchOpen(b *testing.B) *Offloader {
	if why := nettopo.CanRun(); why != "" {
		b.Skip(why)
	}
	topo, err := nettopo.New()
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { topo.Close() })
	o, err := Open(context.Background(), Config{Table: 11, PortMin: 20000, PortMax: 60000, NetNS: int(topo.R)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	return o
}

// BenchmarkAddRemove: one offload plus one hand-back (netlink round trips).
func BenchmarkAddRemove(b *testing.B) {
	o := benchOpen(b)
	f := benchFlow(0)
	for b.Loop() {
		if err := o.Add(f); err != nil {
			b.Fatal(err)
		}
		if err := o.Remove(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllCounters1000 reads the counters of 1000 flows.
func BenchmarkAllCounters1000(b *testing.B) {
	o := benchOpen(b)
	for i := range 1000 {
		if err := o.Add(benchFlow(i)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		st, err := o.AllCounters()
		if err != nil || len(st) != 1000 {
			b.Fatal(len(st), err)
		}
	}
}

// BenchmarkCounters1of1000 reads one flow's counters among 1000 flows.
func BenchmarkCounters1of1000(b *testing.B) {
	o := benchOpen(b)
	for i := range 1000 {
		if err := o.Add(benchFlow(i)); err != nil {
			b.Fatal(err)
		}
	}
	f := benchFlow(500)
	for b.Loop() {
		if _, err := o.Counters(f); err != nil {
			b.Fatal(err)
		}
	}
}
