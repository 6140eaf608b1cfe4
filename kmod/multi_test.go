package kmod

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"sipmedia/kmod/nettopo"
)

// Two instances in one namespace, as an operator runs two daemons (each
// its own table, port range and socket mark): each forwards and counts its
// own flows only, and closing or restarting one leaves the other's flows
// offloaded.
func TestTwoInstances(t *testing.T) { notrackModes(t, testTwoInstances) }

func testTwoInstances(t *testing.T, sockMark uint32) {
	topo := newTopo(t)
	type inst struct {
		table  int
		lo, hi int
		mark   uint32
		o      *Offloader
		relay  *standIn
		flow   Flow
		a, b   netip.AddrPort // peers
	}
	mark2 := sockMark
	if sockMark != 0 {
		mark2 = sockMark + 1
	}
	insts := []*inst{
		{table: 4, lo: testPortMin, hi: testPortMin + 49, mark: sockMark},
		{table: 5, lo: testPortMin + 50, hi: testPortMax, mark: mark2},
	}
	open := func(in *inst) {
		t.Helper()
		o, err := Open(context.Background(), Config{Table: in.table, PortMin: in.lo, PortMax: in.hi,
			SocketMark: in.mark, NetNS: int(topo.R), Log: testLogger(t)})
		if err != nil {
			t.Fatalf("Open table %d: %v", in.table, err)
		}
		t.Cleanup(func() { o.Close() })
		in.o = o
	}
	for k, in := range insts {
		la := netip.AddrPortFrom(nettopo.AddrRA, uint16(in.lo))
		lb := netip.AddrPortFrom(nettopo.AddrRB, uint16(in.lo+2))
		in.a = netip.AddrPortFrom(nettopo.AddrA, uint16(40000+10*k))
		in.b = netip.AddrPortFrom(nettopo.AddrB, uint16(40002+10*k))
		in.relay = newStandIn(t, topo, la, lb, in.mark)
		in.flow = Flow{LocalA: la, PeerA: in.a, LocalB: lb, PeerB: in.b}
		open(in)
	}
	sockA := []*net.UDPConn{listen(t, topo.A, insts[0].a), listen(t, topo.A, insts[1].a)}
	sockB := []*net.UDPConn{listen(t, topo.B, insts[0].b), listen(t, topo.B, insts[1].b)}
	for k, in := range insts {
		send(t, sockB[k], in.flow.LocalB, "latch", 1)
		waitReads(t, in.relay, 1)
		if err := in.o.Add(in.flow); err != nil {
			t.Fatalf("Add table %d: %v", in.table, err)
		}
	}
	// traffic sends n packets each way on instance k's flow and checks they
	// arrive, from the right relay endpoint, without the relay reading any
	// when offloaded is true.
	traffic := func(k, n int, offloaded bool) {
		t.Helper()
		in := insts[k]
		a, b := sockA[k], sockB[k]
		r0 := in.relay.reads.Load()
		send(t, a, in.flow.LocalA, "x", n)
		expect(t, b, in.flow.LocalB, "x", n)
		send(t, b, in.flow.LocalB, "y", n)
		expect(t, a, in.flow.LocalA, "y", n)
		got := in.relay.reads.Load() - r0
		if offloaded && got != 0 {
			t.Errorf("table %d: relay read %d packets while offloaded", in.table, got)
		}
		if !offloaded && got != int64(2*n) {
			t.Errorf("table %d: relay read %d packets, want %d (userspace)", in.table, got, 2*n)
		}
	}
	traffic(0, 5, true)
	traffic(1, 7, true)
	for k, want := range []uint64{5, 7} {
		st, err := insts[k].o.Counters(insts[k].flow)
		if err != nil || st.FromA.Packets != want || st.FromB.Packets != want {
			t.Fatalf("table %d counters %+v (%v), want %d each way", insts[k].table, st, err, want)
		}
		if all, err := insts[k].o.AllCounters(); err != nil || len(all) != 1 {
			t.Fatalf("table %d AllCounters: %d flows (%v), want its own one", insts[k].table, len(all), err)
		}
	}

	// Instance 0 stops: its flow goes back to its relay, instance 1's stays.
	if err := insts[0].o.Close(); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, topo, 4) || !tableExists(t, topo, 5) {
		t.Fatal("closing table 4 must remove it and keep table 5")
	}
	traffic(0, 3, false)
	traffic(1, 4, true)

	// Instance 0 restarts (Open replaces its own table only) and offloads again.
	open(insts[0])
	traffic(1, 1, true)
	if err := insts[0].o.Add(insts[0].flow); err != nil {
		t.Fatal(err)
	}
	traffic(0, 6, true)
	traffic(1, 2, true)
	if st, err := insts[1].o.Counters(insts[1].flow); err != nil || st.FromA.Packets != 7+4+1+2 {
		t.Fatalf("table 5 counters %+v (%v), want FromA %d", st, err, 7+4+1+2)
	}
}
