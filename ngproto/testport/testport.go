// Package testport hands out loopback ports for tests and benchmarks that
// start daemons (sipproxy, mediad, rtpengine, kamailio, sipp) as processes.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Tests start many daemons, each on ports picked before it runs. Asking
// the kernel for port 0 and closing the socket is not enough: the kernel
// may hand the same port out again to the next pick of the same test (seen:
// sipproxy's ws and mgmt listeners got one port), or to any socket anywhere
// binding port 0 or connecting. So ports come from above the kernel's
// ephemeral range, each one at most once per process, starting at a random
// point so that test binaries running side by side rarely meet, and only
// if both UDP and TCP can bind it right now. Ports go out portStride apart:
// sipp, given a media port p (-mp), also binds p+1 to p+3.
var ports struct {
	sync.Mutex
	lo, hi, next int
	given        map[int]bool
}

const portStride = 4

func portWindow() (lo, hi int) {
	const top = 65535
	lo = 61000 // above Linux's default ephemeral range 32768-60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if max, err := strconv.Atoi(f[1]); err == nil && max+1 < top-1000 {
				lo = max + 1
			}
		}
	}
	return lo, top
}

// Free returns a port on host that is free for both UDP and TCP and
// that this process has not returned before, nor any of the three ports
// above it.
func Free(host string) (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.lo, ports.hi = portWindow()
		ports.next = ports.lo + rand.IntN(ports.hi-ports.lo+1-portStride)
		ports.given = map[int]bool{}
	}
	for range (ports.hi - ports.lo + 1) / portStride {
		p := ports.next
		ports.next += portStride
		if ports.next+portStride-1 > ports.hi {
			ports.next = ports.lo + (ports.next-ports.lo)%portStride
		}
		if ports.given[p] || !bindable(host, p) {
			continue
		}
		ports.given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("free port on %s: none left in %d-%d", host, ports.lo, ports.hi)
}

func bindable(host string, p int) bool {
	addr := net.JoinHostPort(host, strconv.Itoa(p))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	return u.Close() == nil
}

// FreeAddrs returns loopback NG (UDP) and CLI (TCP) addresses.
func FreeAddrs() (ng, cli string, err error) {
	u, err := Free("127.0.0.1")
	if err != nil {
		return "", "", err
	}
	t, err := Free("127.0.0.1")
	if err != nil {
		return "", "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(u)), net.JoinHostPort("127.0.0.1", strconv.Itoa(t)), nil
}

// Get is Free on 127.0.0.1 for a test: it fails the test if no port is left.
func Get(tb testing.TB) int {
	tb.Helper()
	p, err := Free("127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// UDP opens a UDP socket on 127.0.0.1, on a port the kernel picks, closed
// when the test ends: a phone's RTP socket, a sink for what a daemon
// sends, a raw SIP user agent.
func UDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
