package e2e

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

// natIdle is how long the NAT test's router keeps an idle UDP mapping,
// and natCallAfter when bob calls after sipp registered: past it.
const (
	natIdle      = 3
	natCallAfter = 5 * time.Second
)

// TestNATPingBehindNAT: sipp registers from behind a real NAT
// (natTopology) whose router forgets a UDP mapping idle for 3 s, and bob
// calls it 5 s later. Without pings the INVITE meets a closed mapping and
// the call fails (the control: the router really forgets). With
// --natping-interval=1s the proxy's keepalives keep the mapping, and the
// call reaches sipp with media both ways through mediad.
func TestNATPingBehindNAT(t *testing.T) {
	if inside, _ := browsertest.Enter(t, browsertest.Netns{Timeout: 3 * time.Minute}); !inside {
		return
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("skipping: sipp not installed")
	}
	router, home := natTopology(t)
	for _, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
		cmd := exec.Command("ip", "netns", "exec", router, "sysctl", "-qw", "net.netfilter."+k+"="+strconv.Itoa(natIdle))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999, Interfaces: []string{natPublic}})
	sc := func(pub string) sippCaller {
		return sippCaller{ip: natHomeIP, proxy: pub, wrap: []string{"ip", "netns", "exec", home}, idle: natCallAfter}
	}
	t.Run("keepalive", func(t *testing.T) {
		pub := net.JoinHostPort(natPublic, strconv.Itoa(testport.Get(t)))
		startProxy(t, []string{opts.NG}, "--listen=udp:"+pub, "--natping-interval=1s")
		bob := registeredPhone(t, phone.Config{User: "bob-ka", IP: natPublic, Proxy: mustAddrPort(pub), Domain: callsDomain})
		phoneCallsSipp(t, sc(pub), bob, "alice-ka", opts.NG)
	})
	t.Run("no-pings", func(t *testing.T) {
		pub := net.JoinHostPort(natPublic, strconv.Itoa(testport.Get(t)))
		startProxy(t, []string{opts.NG}, "--listen=udp:"+pub, "--fr-timeout=2s")
		bob := registeredPhone(t, phone.Config{User: "bob-np", IP: natPublic, Proxy: mustAddrPort(pub), Domain: callsDomain})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		out, _ := sippRegistersAndAnswers(t, ctx, sc(pub), "alice-np")
		time.Sleep(natCallAfter)
		if c, err := bob.Call(ctx, "alice-np"); err == nil {
			c.Hangup(ctx)
			t.Fatalf("the call reached sipp through a mapping idle for %v: the router kept it, so the test shows nothing\nsipp: %s",
				natCallAfter, out.String())
		} else {
			t.Logf("without pings: %v", err)
		}
	})
}
