package kmod

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// When the conntrack entry of an offloaded flow expires (silence longer than
// the UDP timeout), the next packet recreates it through the maps and the
// per-element counters keep counting.
func TestEntryExpiry(t *testing.T) {
	topo := newTopo(t)
	relay := newStandIn(t, topo, localA, localB, 0)
	a := listen(t, topo.A, peerA)
	b := listen(t, topo.B, peerB)
	o := openR(t, topo, 10, 0)
	for _, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
		if err := topo.Sysctl(topo.R, "net/netfilter/"+k, "1"); err != nil {
			t.Skipf("cannot shorten %s in R: %v", k, err)
		}
	}
	flow := Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}
	if err := o.Add(flow); err != nil {
		t.Fatal(err)
	}
	send(t, a, localA, "e", 3)
	expect(t, b, localB, "e", 3)
	deadline := time.Now().Add(5 * time.Second)
	for len(tagFlows(t, topo, 10)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("conntrack entry did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	send(t, b, localB, "g", 4) // B first this time
	expect(t, a, localA, "g", 4)
	send(t, a, localA, "h", 2)
	expect(t, b, localB, "h", 2)
	if n := relay.reads.Load(); n != 0 {
		t.Errorf("relay read %d packets", n)
	}
	st, err := o.Counters(flow)
	if err != nil {
		t.Fatal(err)
	}
	if st.FromA.Packets != 5 || st.FromB.Packets != 4 {
		t.Errorf("counters across entry re-creation %+v, want FromA 5 FromB 4", st)
	}
}

// Add, Remove and counter reads from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	topo := newTopo(t)
	o := openR(t, topo, 13, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				f := benchFlow(w*20 + i)
				f.LocalA = netipPort(f.LocalA, uint16(testPortMin+w*20+i))
				f.LocalB = netipPort(f.LocalB, uint16(testPortMin+w*20+i))
				if err := o.Add(f); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := o.Remove(f); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := o.AllCounters(); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(o.Flows()); n != 40 {
		t.Fatalf("%d flows, want 40", n)
	}
	all, err := o.AllCounters()
	if err != nil || len(all) != 40 {
		t.Fatalf("AllCounters: %d flows, %v", len(all), err)
	}
}

func netipPort(ap netip.AddrPort, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr(), port)
}
