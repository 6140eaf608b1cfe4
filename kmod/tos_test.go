package kmod

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/kmod/nettopo"
)

// TestTOS: with Config.TOS the kernel path writes the TOS byte (IPv6
// traffic class) of every packet it forwards, whatever the sender set,
// and the rewritten IPv4 header still passes the receiver's checksum
// test (a bad one is dropped in ip_rcv).
func TestTOS(t *testing.T) {
	for _, fam := range []Family{IPv4, IPv6} {
		t.Run(fam.String(), func(t *testing.T) {
			topo := newTopo(t)
			la, lb, pa, pb := localA, localB, peerA, peerB
			if fam == IPv6 {
				la, lb = netip.AddrPortFrom(nettopo.Addr6RA, 30010), netip.AddrPortFrom(nettopo.Addr6RB, 30012)
				pa, pb = netip.AddrPortFrom(nettopo.Addr6A, 40000), netip.AddrPortFrom(nettopo.Addr6B, 40002)
			}
			relay := newStandIn(t, topo, la, lb, 0)
			a := listen(t, topo.A, pa)
			b := listen(t, topo.B, pb)
			o, err := Open(context.Background(), Config{Table: 7, Family: fam, PortMin: testPortMin, PortMax: testPortMax,
				TOS: 184, NetNS: int(topo.R), Log: testLogger(t)})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer o.Close()
			send(t, b, lb, "latch", 1)
			waitReads(t, relay, 1)
			if err := o.Add(Flow{LocalA: la, PeerA: pa, LocalB: lb, PeerB: pb}); err != nil {
				t.Fatal(err)
			}
			setSendTOS(t, a, fam, 0x10)
			recvTOSOn(t, b, fam)
			reads0 := relay.reads.Load()
			send(t, a, la, "k", 10)
			got := tosOf(t, b, fam, 10)
			if len(got) != 10 {
				t.Fatalf("received %d of 10 offloaded packets (TOS %v)", len(got), got)
			}
			for _, tos := range got {
				if tos != 184 {
					t.Fatalf("offloaded packets arrived with TOS %v, want 184", got)
				}
			}
			if n := relay.reads.Load(); n != reads0 {
				t.Errorf("relay read %d packets while offloaded", n-reads0)
			}
		})
	}
}

func setSendTOS(t *testing.T, c *net.UDPConn, fam Family, tos int) {
	t.Helper()
	level, opt := unix.IPPROTO_IP, unix.IP_TOS
	if fam == IPv6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_TCLASS
	}
	sockopt(t, c, level, opt, tos)
}

func recvTOSOn(t *testing.T, c *net.UDPConn, fam Family) {
	t.Helper()
	level, opt := unix.IPPROTO_IP, unix.IP_RECVTOS
	if fam == IPv6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS
	}
	sockopt(t, c, level, opt, 1)
}

func sockopt(t *testing.T, c *net.UDPConn, level, opt, v int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil || serr != nil {
		t.Fatalf("setsockopt %d/%d: %v %v", level, opt, err, serr)
	}
}

// tosOf reads up to n datagrams from c and returns their TOS bytes.
func tosOf(t *testing.T, c *net.UDPConn, fam Family, n int) []int {
	t.Helper()
	var out []int
	buf, oob := make([]byte, 2048), make([]byte, 128)
	for len(out) < n {
		_ = c.SetReadDeadline(time.Now().Add(recvWait))
		_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
		if err != nil {
			break
		}
		tos := -1
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			switch {
			case fam == IPv4 && m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) > 0:
				tos = int(m.Data[0])
			case fam == IPv6 && m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_TCLASS && len(m.Data) >= 4:
				tos = int(binary.NativeEndian.Uint32(m.Data))
			}
		}
		out = append(out, tos)
	}
	_ = c.SetReadDeadline(time.Time{})
	return out
}
