package e2e

import (
	"net"
	"net/netip"
	"strconv"
	"testing"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

// TestCallsDualStack: an IPv6 phone (::1) and IPv4 phones (127.0.0.1) call
// each other through sipproxy (listening on both) and a daemon bound on
// both loopbacks. The seed's flag strings name no family, so each party
// would get the other's: the proxy asks the daemon for the family of the
// party an offer goes to (address-family), and the daemon answers each in
// its own, so media flows both ways through it. Early offer from the IPv6
// phone with a re-INVITE each way, and a late offer from an IPv4 phone
// (the IPv6 callee's offer in the 200 goes to the IPv4 caller). Run with
// rtpengine (the reference) and mediad.
func TestCallsDualStack(t *testing.T) {
	for _, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) {
			_, opts := daemon.ByNameTB(t, name, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
			v6 := testport.Get(t)
			px := startProxy(t, []string{opts.NG}, "--listen=udp:"+net.JoinHostPort("::1", strconv.Itoa(v6)))
			alice := registeredPhone(t, phone.Config{User: "alice", IP: "::1",
				Proxy: netip.AddrPortFrom(netip.IPv6Loopback(), uint16(v6)), Domain: callsDomain})
			bob := newPhone(t, px, "bob", false)
			carol := newPhone(t, px, "carol", true)

			a, b := placeCall(t, alice, bob, "bob")
			checkFamilies(t, a, b)
			checkMediaThrough(t, opts.NG, a, b)
			renegotiateBothWays(t, opts.NG, a, b, (*phone.Call).Reinvite)
			checkFamilies(t, a, b)
			hangupAndCheck(t, opts.NG, a, b)

			c, a2 := placeCall(t, carol, alice, "alice")
			checkFamilies(t, a2, c)
			checkMediaThrough(t, opts.NG, c, a2)
			hangupAndCheck(t, opts.NG, c, a2)
		})
	}
}

// checkFamilies: the IPv6 phone's call was given an IPv6 media address, the
// IPv4 phone's an IPv4 one.
func checkFamilies(t *testing.T, v6, v4 *phone.Call) {
	t.Helper()
	if r := v6.RemoteAddr(); !r.Addr().Is6() || r.Addr().Is4In6() {
		t.Errorf("the IPv6 phone was given media address %v", r)
	}
	if r := v4.RemoteAddr(); !r.Addr().Is4() {
		t.Errorf("the IPv4 phone was given media address %v", r)
	}
}
