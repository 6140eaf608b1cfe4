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

// Peers on R itself: their packets take OUTPUT (DNAT there) and INPUT (SNAT
// there) instead of PREROUTING/FORWARD.
func TestLocalPeers(t *testing.T) { notrackModes(t, testLocalPeers) }

func testLocalPeers(t *testing.T, sockMark uint32) {
	topo := newTopo(t)
	relay := newStandIn(t, topo, localA, localB, sockMark)
	o := openR(t, topo, 7, sockMark)

	cases := []struct {
		name         string
		aLocal       bool
		bLocal       bool
		peerA, peerB netip.AddrPort
	}{
		{"both-local", true, true, netip.AddrPortFrom(nettopo.AddrRA, 41000), netip.AddrPortFrom(nettopo.AddrRB, 41002)},
		{"B-local", false, true, peerA, netip.AddrPortFrom(nettopo.AddrRB, 41004)},
		{"A-local", true, false, netip.AddrPortFrom(nettopo.AddrRA, 41006), peerB},
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
			// packets are tracked, and Add must clear that entry.
			r0 := relay.reads.Load()
			send(t, b, localB, "latch", 1)
			waitReads(t, relay, r0+1)
			send(t, a, localA, "u", 2)
			expect(t, b, localB, "u", 2)
			flow := Flow{LocalA: localA, PeerA: tc.peerA, LocalB: localB, PeerB: tc.peerB}
			if err := o.Add(flow); err != nil {
				t.Fatal(err)
			}
			reads := relay.reads.Load()
			send(t, a, localA, "p", 10)
			expect(t, b, localB, "p", 10)
			send(t, b, localB, "q", 8)
			expect(t, a, localA, "q", 8)
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
			send(t, b, localB, "back", 1)
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
