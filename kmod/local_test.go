package kmod

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"sipmedia/kmod/nettopo"
)

// Peers on R itself: their packets take OUTPUT (rewritten there, and routed
// again by the route chain) instead of PREROUTING/FORWARD, and packets to
// them arrive from a device with R's own address as source (accept_local).
func TestLocalPeers(t *testing.T) {
	notrackModes(t, func(t *testing.T, sockMark uint32) { testLocalPeers(t, IPv4, sockMark) })
}

func TestLocalPeersIPv6(t *testing.T) { testLocalPeers(t, IPv6, 0) }

func testLocalPeers(t *testing.T, fam Family, sockMark uint32) {
	topo := newTopo(t)
	rA, rB, la, lb, pa, pb := nettopo.AddrRA, nettopo.AddrRB, localA, localB, peerA, peerB
	if fam == IPv6 {
		rA, rB = nettopo.Addr6RA, nettopo.Addr6RB
		la, lb = netip.AddrPortFrom(rA, localA.Port()), netip.AddrPortFrom(rB, localB.Port())
		pa, pb = netip.AddrPortFrom(nettopo.Addr6A, peerA.Port()), netip.AddrPortFrom(nettopo.Addr6B, peerB.Port())
	}
	relay := newStandIn(t, topo, la, lb, sockMark)
	o, err := Open(context.Background(), Config{Table: 7, Family: fam, PortMin: testPortMin, PortMax: testPortMax,
		SocketMark: sockMark, NetNS: int(topo.R), Log: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })

	cases := []struct {
		name         string
		aLocal       bool
		bLocal       bool
		peerA, peerB netip.AddrPort
	}{
		{"both-local", true, true, netip.AddrPortFrom(rA, 41000), netip.AddrPortFrom(rB, 41002)},
		{"B-local", false, true, pa, netip.AddrPortFrom(rB, 41004)},
		{"A-local", true, false, netip.AddrPortFrom(rA, 41006), pb},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nsA := topo.A
			if tc.aLocal {
				nsA = topo.R
			}
			a := listen(t, nsA, tc.peerA)
			nsB := topo.B
			if tc.bLocal {
				nsB = topo.R
			}
			b := listen(t, nsB, tc.peerB)
			// A userspace phase first: in socket-mark mode the local peer's
			// packets are tracked (conntrack is on in R).
			r0 := relay.reads.Load()
			// Repeated until it arrives: right after the topology is built,
			// R's IPv6 addresses can drop traffic between them for a moment.
			// The relay forwards nothing while A is unknown.
			for deadline := time.Now().Add(recvWait); relay.reads.Load() == r0; {
				if time.Now().After(deadline) {
					t.Fatal("relay never received B's first datagram")
				}
				send(t, b, lb, "latch", 1)
				time.Sleep(20 * time.Millisecond)
			}
			send(t, a, la, "u", 2)
			expect(t, b, lb, "u", 2)
			flow := Flow{LocalA: la, PeerA: tc.peerA, LocalB: lb, PeerB: tc.peerB}
			if err := o.Add(flow); err != nil {
				t.Fatal(err)
			}
			reads := relay.reads.Load()
			send(t, a, la, "p", 10)
			expect(t, b, lb, "p", 10)
			send(t, b, lb, "q", 8)
			expect(t, a, la, "q", 8)
			if n := relay.reads.Load(); n != reads {
				t.Errorf("relay read %d packets while offloaded", n-reads)
			}
			st, err := o.Counters(flow)
			if err != nil {
				t.Fatal(err)
			}
			if st.FromA.Packets != 10 || st.FromB.Packets != 8 {
				t.Errorf("counters %+v, want FromA 10 FromB 8 (each packet counted once)", st)
			}
			if err := o.Remove(flow); err != nil {
				t.Fatal(err)
			}
			// Back in userspace: the relay reads the next packet.
			send(t, b, lb, "back", 1)
			waitReads(t, relay, reads+1)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	topo := newTopo(t)
	if err := topo.Sysctl(topo.R, "net/ipv4/ip_forward", "0"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{Table: 1, PortMin: testPortMin, PortMax: testPortMax, NetNS: int(topo.R)})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Open with ip_forward=0: %v, want ErrUnsupported", err)
	}
	if tableExists(t, topo, 1) {
		t.Fatal("failed Open left a table")
	}
	for _, cfg := range []Config{
		{Table: -1, PortMin: 1, PortMax: 2},
		{Table: 128, PortMin: 1, PortMax: 2},
		{Table: 0, PortMin: 0, PortMax: 2},
		{Table: 0, PortMin: 3, PortMax: 2},
		{Table: 0, PortMin: 1, PortMax: 2, Family: 5},
	} {
		cfg.NetNS = int(topo.R)
		if o, err := Open(context.Background(), cfg); err == nil {
			o.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestAddValidation(t *testing.T) {
	topo := newTopo(t)
	o := openR(t, topo, 9, 0)
	ok := Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}
	bad := []Flow{
		{},
		{LocalA: netip.AddrPortFrom(nettopo.AddrRA, 29999), PeerA: peerA, LocalB: localB, PeerB: peerB},
		{LocalA: localA, PeerA: netip.MustParseAddrPort("[2001:2::1]:5"), LocalB: localB, PeerB: peerB},
		{LocalA: localA, PeerA: peerA, LocalB: localA, PeerB: peerB},
		{LocalA: localA, PeerA: netip.MustParseAddrPort("0.0.0.0:5"), LocalB: localB, PeerB: peerB},
	}
	for _, f := range bad {
		if err := o.Add(f); !errors.Is(err, ErrInvalidFlow) {
			t.Errorf("Add(%v): %v, want ErrInvalidFlow", f, err)
		}
	}
	if err := o.Add(ok); err != nil {
		t.Fatal(err)
	}
	mapped := ok
	mapped.PeerA = netip.AddrPortFrom(netip.AddrFrom16(peerA.Addr().As16()), peerA.Port())
	if err := o.Add(mapped); err != nil {
		t.Fatalf("idempotent Add (IPv4-mapped peer): %v", err)
	}
	if n := len(o.Flows()); n != 1 {
		t.Fatalf("%d flows, want 1", n)
	}
	// A local endpoint belongs to one flow at a time.
	clash := Flow{LocalA: localA, PeerA: peerA, LocalB: netip.AddrPortFrom(nettopo.AddrRB, 30004), PeerB: peerB}
	if err := o.Add(clash); !errors.Is(err, ErrInvalidFlow) {
		t.Errorf("Add sharing LocalA: %v, want ErrInvalidFlow", err)
	}
	if err := o.Remove(ok); err != nil {
		t.Fatal(err)
	}
	if err := o.Remove(ok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v, want ErrNotFound", err)
	}
}

func TestInstanceLock(t *testing.T) {
	topo := newTopo(t)
	cfg := Config{Table: 8, PortMin: testPortMin, PortMax: testPortMax, NetNS: int(topo.R)}
	g0 := runtime.NumGoroutine()
	defer func() {
		// The Offloader owns no goroutines: none may outlive Close.
		deadline := time.Now().Add(time.Second)
		for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > g0 {
			t.Errorf("%d goroutines after Close, %d before Open", n, g0)
		}
	}()
	o, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o2, err := Open(context.Background(), cfg); !errors.Is(err, ErrBusy) {
		if err == nil {
			o2.Close()
		}
		t.Fatalf("second Open of a live table: %v, want ErrBusy", err)
	}
	if err := Purge(context.Background(), cfg); !errors.Is(err, ErrBusy) {
		t.Fatalf("Purge of a live table: %v, want ErrBusy", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o, err = Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	o.Close()
}

func TestNilOffloader(t *testing.T) {
	var o *Offloader
	f := Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}
	if err := o.Add(f); !errors.Is(err, ErrDisabled) {
		t.Errorf("Add: %v", err)
	}
	if err := o.Remove(f); !errors.Is(err, ErrDisabled) {
		t.Errorf("Remove: %v", err)
	}
	if _, err := o.Counters(f); !errors.Is(err, ErrDisabled) {
		t.Errorf("Counters: %v", err)
	}
	if _, err := o.AllCounters(); !errors.Is(err, ErrDisabled) {
		t.Errorf("AllCounters: %v", err)
	}
	if o.Flows() != nil || o.Close() != nil {
		t.Error("Flows/Close of nil Offloader")
	}
}
