// Package nettopo builds the A - R - B network namespace topology the
// kernel fast path is tested and benchmarked in: three named namespaces,
// veth pairs A<->R and R<->B, forwarding on in R, and 198.18.0.0/15
// benchmark addresses that never leave the namespaces. Used by kmod's tests,
// kmod/cmd/benchkernel and mediad's kernel path test.
package nettopo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Fixed addresses (RFC 2544 benchmark range).
var (
	AddrA  = netip.MustParseAddr("198.18.1.2")
	AddrRA = netip.MustParseAddr("198.18.1.1") // R on A's link
	AddrRB = netip.MustParseAddr("198.18.2.1") // R on B's link
	AddrB  = netip.MustParseAddr("198.18.2.2")
)

// IPv6 addresses (RFC 5180 benchmark range), on the same links.
var (
	Addr6A  = netip.MustParseAddr("2001:2:0:1::2")
	Addr6RA = netip.MustParseAddr("2001:2:0:1::1")
	Addr6RB = netip.MustParseAddr("2001:2:0:2::1")
	Addr6B  = netip.MustParseAddr("2001:2:0:2::2")
)

// Topology is a live A - R - B setup. Close removes it.
type Topology struct {
	Prefix  string // unique per run, prefixes the namespace names
	A, R, B netns.NsHandle
	names   []string
}

// CanRun reports why the topology cannot be built here ("" if it can).
func CanRun() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, nftables)"
	}
	return ""
}

// New creates the namespaces and links. Names are unique per call.
func New() (*Topology, error) {
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	t := &Topology{Prefix: "kmt" + hex.EncodeToString(rnd[:])}
	var err error
	if t.A, err = t.newNS("a"); err != nil {
		return nil, t.fail(err)
	}
	if t.R, err = t.newNS("r"); err != nil {
		return nil, t.fail(err)
	}
	if t.B, err = t.newNS("b"); err != nil {
		return nil, t.fail(err)
	}
	if err := t.link(t.A, "eth0", [2]netip.Addr{AddrA, Addr6A}, t.R, "ethA", [2]netip.Addr{AddrRA, Addr6RA}); err != nil {
		return nil, t.fail(err)
	}
	if err := t.link(t.B, "eth0", [2]netip.Addr{AddrB, Addr6B}, t.R, "ethB", [2]netip.Addr{AddrRB, Addr6RB}); err != nil {
		return nil, t.fail(err)
	}
	if err := t.defaultRoutes(t.A, AddrRA, Addr6RA); err != nil {
		return nil, t.fail(err)
	}
	if err := t.defaultRoutes(t.B, AddrRB, Addr6RB); err != nil {
		return nil, t.fail(err)
	}
	if err := t.Sysctl(t.R, "net/ipv4/ip_forward", "1"); err != nil {
		return nil, t.fail(err)
	}
	if err := t.Sysctl(t.R, "net/ipv6/conf/all/forwarding", "1"); err != nil {
		return nil, t.fail(err)
	}
	// kmod's kernel path rewrites packets to come from R's own addresses
	// before they are routed; IPv4 accepts that only with accept_local.
	if err := t.Sysctl(t.R, "net/ipv4/conf/all/accept_local", "1"); err != nil {
		return nil, t.fail(err)
	}
	return t, nil
}

func (t *Topology) fail(err error) error {
	return errors.Join(err, t.Close())
}

// Name returns the named namespace's name for suffix ("a", "r", "b"),
// usable with `ip netns exec`.
func (t *Topology) Name(suffix string) string { return t.Prefix + "-" + suffix }

func (t *Topology) newNS(suffix string) (netns.NsHandle, error) {
	name := t.Name(suffix)
	var h netns.NsHandle
	err := Do(0, func() error {
		// NewNamed switches the locked thread into the new namespace; Do
		// switches it back.
		var err error
		h, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create netns %s: %w", name, err)
	}
	t.names = append(t.names, name)
	err = t.withHandle(h, func(nl *netlink.Handle) error {
		lo, err := nl.LinkByName("lo")
		if err != nil {
			return err
		}
		return nl.LinkSetUp(lo)
	})
	return h, err
}

func (t *Topology) withHandle(ns netns.NsHandle, fn func(*netlink.Handle) error) error {
	return withNS(ns, fn)
}

func withNS(ns netns.NsHandle, fn func(*netlink.Handle) error) error {
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer nl.Close()
	return fn(nl)
}

// link creates a veth pair between two namespaces and gives each end an
// IPv4 /24 and an IPv6 /64 address.
func (t *Topology) link(ns1 netns.NsHandle, if1 string, a1 [2]netip.Addr, ns2 netns.NsHandle, if2 string, a2 [2]netip.Addr) error {
	err := t.withHandle(ns2, func(nl *netlink.Handle) error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: if2}, PeerName: if1,
			PeerNamespace: netlink.NsFd(int(ns1))}
		if err := nl.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", if2, if1, err)
		}
		return setUp(nl, if2, a2)
	})
	if err != nil {
		return err
	}
	return t.withHandle(ns1, func(nl *netlink.Handle) error { return setUp(nl, if1, a1) })
}

func setUp(nl *netlink.Handle, name string, addrs [2]netip.Addr) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	for _, a := range addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
		if a.Is6() {
			// No duplicate address detection: usable at once.
			addr = &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		}
		if err := nl.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("address %s on %s: %w", a, name, err)
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("up %s: %w", name, err)
	}
	return nil
}

func (t *Topology) defaultRoutes(ns netns.NsHandle, gw4, gw6 netip.Addr) error {
	return t.withHandle(ns, func(nl *netlink.Handle) error {
		if err := nl.RouteAdd(&netlink.Route{Gw: gw4.AsSlice()}); err != nil {
			return fmt.Errorf("route via %s: %w", gw4, err)
		}
		if err := nl.RouteAdd(&netlink.Route{Family: netlink.FAMILY_V6, Gw: gw6.AsSlice()}); err != nil {
			return fmt.Errorf("route via %s: %w", gw6, err)
		}
		return nil
	})
}

// Sysctl writes /proc/sys/<key> inside ns.
func (t *Topology) Sysctl(ns netns.NsHandle, key, val string) error {
	return Do(ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(val), 0o644)
	})
}

// UDPInDatagrams returns the UDP datagrams delivered to sockets in ns
// (Udp: InDatagrams plus Udp6InDatagrams).
func UDPInDatagrams(ns netns.NsHandle) (uint64, error) {
	var out uint64
	err := Do(ns, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		v4, err := snmpField(string(b), "Udp:", "InDatagrams")
		if err != nil {
			return err
		}
		b, err = os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		v6, err := snmp6Field(string(b), "Udp6InDatagrams")
		out = v4 + v6
		return err
	})
	return out, err
}

// UDPStat returns one IPv4 "Udp:" counter of /proc/net/snmp in ns, e.g.
// RcvbufErrors (datagrams dropped because a socket's buffer was full).
func UDPStat(ns netns.NsHandle, field string) (uint64, error) {
	var out uint64
	err := Do(ns, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		out, err = snmpField(string(b), "Udp:", field)
		return err
	})
	return out, err
}

func snmp6Field(s, field string) (uint64, error) {
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == field {
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("snmp6 %s not found", field)
}

func snmpField(s, proto, field string) (uint64, error) {
	var hdr []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if hdr == nil {
			hdr = f
			continue
		}
		for i, h := range hdr {
			if h == field && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("snmp %s %s not found", proto, field)
}

// HardwareAddr returns the MAC address of interface name in ns.
func HardwareAddr(ns netns.NsHandle, name string) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := withNS(ns, func(nl *netlink.Handle) error {
		l, err := nl.LinkByName(name)
		if err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		mac = l.Attrs().HardwareAddr
		return nil
	})
	return mac, err
}

// ListenUDP binds a UDP socket inside ns; the socket stays in ns.
func ListenUDP(ns netns.NsHandle, ap netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := Do(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", ap, err)
	}
	return c, nil
}

// Close deletes the namespaces (and with them the veths and all state).
func (t *Topology) Close() error {
	var errs []error
	for _, h := range []netns.NsHandle{t.A, t.R, t.B} {
		if h > 0 {
			h.Close()
		}
	}
	for _, n := range t.names {
		if err := netns.DeleteNamed(n); err != nil {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", n, err))
		}
	}
	t.names = nil
	return errors.Join(errs...)
}

// Do runs fn on a locked OS thread inside ns (0: stay in the current one)
// and switches back; a thread that cannot switch back is discarded.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if ns > 0 {
			if err := netns.Set(ns); err != nil {
				errc <- err
				return
			}
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
