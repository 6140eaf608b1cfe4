package kmod

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/nftables"

	"sipmedia/kmod/nettopo"
)

func TestBypassIPv6(t *testing.T) { notrackModes(t, testBypassIPv6) }

func testBypassIPv6(t *testing.T, sockMark uint32) {
	topo := newTopo(t)
	la := netip.AddrPortFrom(nettopo.Addr6RA, 30010)
	lb := netip.AddrPortFrom(nettopo.Addr6RB, 30012)
	pa := netip.AddrPortFrom(nettopo.Addr6A, 40000)
	pb := netip.AddrPortFrom(nettopo.Addr6B, 40002)
	relay := newStandIn(t, topo, la, lb, sockMark)
	a := listen(t, topo.A, pa)
	b := listen(t, topo.B, pb)
	const table = 6
	o, err := Open(context.Background(), Config{Table: table, Family: IPv6, PortMin: testPortMin, PortMax: testPortMax,
		SocketMark: sockMark, NetNS: int(topo.R), Log: testLogger(t)})
	if err != nil {
		t.Fatalf("Open IPv6: %v", err)
	}
	defer o.Close()

	send(t, b, lb, "latch", 1)
	waitReads(t, relay, 1)
	send(t, a, la, "u", 5)
	expect(t, b, lb, "u", 5)
	if fl := portFlows(t, topo); len(fl) != 0 {
		t.Fatalf("userspace phase left %d conntrack entries", len(fl))
	}

	flow := Flow{LocalA: la, PeerA: pa, LocalB: lb, PeerB: pb}
	if err := o.Add(flow); err != nil {
		t.Fatalf("Add: %v", err)
	}
	reads0, in0 := relay.reads.Load(), udpIn(t, topo.R)
	send(t, a, la, "k", 30)
	expect(t, b, lb, "k", 30)
	send(t, b, lb, "r", 12)
	expect(t, a, la, "r", 12)
	if n := relay.reads.Load(); n != reads0 {
		t.Errorf("relay read %d packets while offloaded", n-reads0)
	}
	if n := udpIn(t, topo.R); n != in0 {
		t.Errorf("R's UDP InDatagrams rose by %d while offloaded", n-in0)
	}
	st, err := o.Counters(flow)
	if err != nil {
		t.Fatal(err)
	}
	// "k000": 4 bytes + 8 UDP + 40 IPv6.
	if want := (Stats{FromA: Counter{30, 30 * 52}, FromB: Counter{12, 12 * 52}}); st != want {
		t.Errorf("counters %+v, want %+v", st, want)
	}
	if out, err := exec.Command("ip", "netns", "exec", topo.Name("r"), "nft", "list", "table", "ip6", TableName(table)).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "map leg") || !strings.Contains(string(out), "notrack") {
		t.Errorf("nft list: %v\n%s", err, out)
	}

	if err := o.Remove(flow); err != nil {
		t.Fatal(err)
	}
	send(t, a, la, "w", 3)
	expect(t, b, lb, "w", 3)
	if n := relay.reads.Load(); n != reads0+3 {
		t.Errorf("after Remove relay reads rose by %d, want 3", n-reads0)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if tableExistsFamily(t, topo, table, nftables.TableFamilyIPv6) {
		t.Fatal("ip6 table still present after Close")
	}
}
