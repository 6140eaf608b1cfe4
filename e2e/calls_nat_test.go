package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

// The NAT test's addresses: the public side (this test's namespace: the
// proxy, the daemon and bob) and the NAT router's public end on one link
// (TEST-NET-3), the home network behind the router on another.
const (
	natPublic  = "203.0.113.1"
	natRouter  = "203.0.113.2"
	natHomeGW  = "10.20.0.1"
	natHomeIP  = "10.20.0.2"
	natHomeNet = "10.20.0.0/24"
)

// TestCallsBehindNAT is the seed's NAT case on a real NAT: sipp calls
// from a home network behind a router that masquerades with random source
// ports (nftables), so its Via, Contact and SDP carry a private address
// the public side cannot reach, and neither its SIP nor its RTP comes
// from the ports they name. sipproxy fixes the registration and the
// Contact from the packet source (rport, received) and sends received-from
// to the daemon, which must learn where the phone's RTP really comes from
// and send there: bob, a public phone, receives sipp's stream and his own
// packets echoed back by sipp, so both directions crossed the NAT through
// the daemon. Run with rtpengine (the reference) and mediad.
func TestCallsBehindNAT(t *testing.T) {
	if inside, _ := browsertest.Enter(t, browsertest.Netns{Timeout: 3 * time.Minute}); !inside {
		return
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("skipping: sipp not installed")
	}
	_, home := natTopology(t)
	for _, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) {
			// Media on the public address only, as a daemon on a public
			// host has it.
			opts := daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999, Interfaces: []string{natPublic}}
			_, opts = daemon.ByNameTB(t, name, opts)
			pub := mustAddrPort(net.JoinHostPort(natPublic, strconv.Itoa(testport.Get(t))))
			startProxy(t, []string{opts.NG}, "--listen=udp:"+pub.String())
			bob := registeredPhone(t, phone.Config{User: "bob-nat", IP: natPublic, Proxy: pub, Domain: callsDomain})
			t.Run("caller-behind", func(t *testing.T) {
				c, sipPort := sippCallsPhone(t, sippCaller{transport: "udp", ip: natHomeIP, proxy: pub.String(),
					wrap: []string{"ip", "netns", "exec", home}}, bob, opts.NG)
				// The INVITE reached bob with its Contact fixed to where the
				// NAT sent it from: the router's address and another port.
				if ct, err := netip.ParseAddrPort(strings.TrimPrefix(strings.SplitN(c.Target, ";", 2)[0], "sip:sipp@")); err != nil ||
					ct.Addr().String() != natRouter || int(ct.Port()) == sipPort {
					t.Errorf("caller's Contact at bob %q: want %s and a port other than sipp's %d (the NAT's)", c.Target, natRouter, sipPort)
				}
			})
			// bob calls sipp registered from behind the NAT: the INVITE
			// goes to the registration's fixed address, through the
			// mapping the REGISTER opened.
			t.Run("callee-behind", func(t *testing.T) {
				phoneCallsSipp(t, sippCaller{ip: natHomeIP, proxy: pub.String(), wrap: []string{"ip", "netns", "exec", home}},
					bob, "alice-nat", opts.NG)
			})
		})
	}
}

// natTopology builds, from this test's namespace (the public side), a
// router namespace and a home namespace behind it: the public side gets
// natPublic on its link to the router and no route to the home network;
// the router forwards and masquerades what leaves toward the public side
// (nftables, random ports); home's default route is the router. It
// returns the router's and the home namespace's names; the namespaces go
// when the test ends.
func natTopology(t *testing.T) (router, home string) {
	t.Helper()
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	pfx := "nat" + hex.EncodeToString(rnd[:])
	router, home = pfx+"-r", pfx+"-h"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		run(append([]string{"ip", "netns", "exec", ns}, args...)...)
	}
	for _, ns := range []string{router, home} {
		run("ip", "netns", "add", ns)
		t.Cleanup(func() {
			// What the test started there ended with it; anything left
			// goes with the namespace.
			if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
				for _, f := range strings.Fields(string(out)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			_ = exec.Command("ip", "netns", "del", ns).Run()
		})
		in(ns, "ip", "link", "set", "lo", "up")
	}
	run("ip", "link", "add", "natpub", "type", "veth", "peer", "name", "natwan", "netns", router)
	run("ip", "addr", "add", natPublic+"/24", "dev", "natpub")
	run("ip", "link", "set", "natpub", "up")
	in(router, "ip", "addr", "add", natRouter+"/24", "dev", "natwan")
	in(router, "ip", "link", "set", "natwan", "up")
	in(router, "ip", "link", "add", "natlan", "type", "veth", "peer", "name", "homeeth", "netns", home)
	in(router, "ip", "addr", "add", natHomeGW+"/24", "dev", "natlan")
	in(router, "ip", "link", "set", "natlan", "up")
	in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	in(router, "nft", "add table ip nat; add chain ip nat post { type nat hook postrouting priority 100 ; }; "+
		"add rule ip nat post ip saddr "+natHomeNet+" oifname natwan masquerade random")
	in(home, "ip", "addr", "add", natHomeIP+"/24", "dev", "homeeth")
	in(home, "ip", "link", "set", "homeeth", "up")
	in(home, "ip", "route", "add", "default", "via", natHomeGW)
	// The public side cannot reach the home network (no route), so a
	// daemon or proxy that believed the private addresses would send
	// nowhere.
	if out, err := exec.Command("ip", "route", "get", natHomeIP).CombinedOutput(); err == nil {
		t.Fatalf("the public side has a route to the home network: %s", out)
	}
	return router, home
}
