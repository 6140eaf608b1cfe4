package kmod

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/kmod/nettopo"
)

// A datagram without a UDP checksum (zero, allowed over IPv4) keeps it
// through the rewrite: an update of the zero field would make B drop it as
// corrupt. Rewritten checksums are verified by every test (see newTopo).
func TestZeroChecksum(t *testing.T) {
	topo, relay, a, b := newCall(t, 0)
	o := openR(t, topo, 10, 0)
	raw, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_NO_CHECK: %v %v", err, serr)
	}
	flow := Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}
	if err := o.Add(flow); err != nil {
		t.Fatal(err)
	}
	errs0, err := nettopo.UDPStat(topo.B, "InCsumErrors")
	if err != nil {
		t.Fatal(err)
	}
	send(t, a, localA, "z", 5)
	expect(t, b, localB, "z", 5)
	send(t, b, localB, "c", 3) // B checksums; A verifies
	expect(t, a, localA, "c", 3)
	if n := relay.reads.Load(); n != 0 {
		t.Errorf("relay read %d packets", n)
	}
	if errs, err := nettopo.UDPStat(topo.B, "InCsumErrors"); err != nil || errs != errs0 {
		t.Errorf("B's UDP InCsumErrors %d -> %d (%v)", errs0, errs, err)
	}
	if st, err := o.Counters(flow); err != nil || st.FromA.Packets != 5 || st.FromB.Packets != 3 {
		t.Errorf("counters %+v (%v), want FromA 5 FromB 3", st, err)
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

// A fragmented datagram (never RTP, but possible) is not half-forwarded:
// with conntrack on, its defragmentation runs before the kernel path, which
// forwards the whole datagram (R fragments it again); without it, the
// fragments miss the rule and the relay socket gets the reassembled one.
func TestFragments(t *testing.T) {
	topo, relay, a, b := newCall(t, 0)
	o := openR(t, topo, 12, 0)
	send(t, b, localB, "latch", 1) // the relay knows B: it can forward A's datagram
	waitReads(t, relay, 1)
	if err := o.Add(Flow{LocalA: localA, PeerA: peerA, LocalB: localB, PeerB: peerB}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("f"), 3000) // veth MTU 1500: three fragments
	if _, err := a.WriteToUDPAddrPort(big, localA); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(recvWait))
	n, from, err := b.ReadFromUDPAddrPort(buf)
	if err != nil || n != len(big) || from != localB || !bytes.Equal(buf[:n], big) {
		t.Fatalf("B got %d bytes from %s (%v), want the whole %d-byte datagram from %s", n, from, err, len(big), localB)
	}
	if n := relay.reads.Load(); n != 1 {
		t.Errorf("relay read %d datagrams with conntrack on, want 1 (the latch)", n)
	}

	untrackConntrack(t, topo)
	if _, err := a.WriteToUDPAddrPort(big, localA); err != nil {
		t.Fatal(err)
	}
	waitReads(t, relay, 2) // reassembled for the socket (the stand-in truncates it)
	drain(b, 50*time.Millisecond)
	send(t, a, localA, "k", 3) // whole datagrams still take the kernel path
	expect(t, b, localB, "k", 3)
	if n := relay.reads.Load(); n != 2 {
		t.Errorf("relay reads %d, want 2", n)
	}
}
