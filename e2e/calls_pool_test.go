package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto"
)

func hasCall(t *testing.T, ng, id string) bool {
	return ngDo(t, ng, ngproto.Dict{"command": "query", "call-id": id}).Result() == "ok"
}

// TestCallsTwoMediads: one sipproxy, two mediad instances with weights 3
// and 1. Calls spread by weight and each call stays on one daemon (offer,
// answer and delete); after one daemon is stopped, new calls go to the
// other and succeed with media.
func TestCallsTwoMediads(t *testing.T) {
	_, optA := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	procB, optB := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999})
	px := startProxy(t, []string{optA.NG + "=3", optB.NG + "=1"}, "--rtpengine-timeout=300ms", "--rtpengine-retries=2")
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)

	const calls = 48
	onA, onB := 0, 0
	for i := 0; i < calls; i++ {
		a, b := placeCall(t, alice, bob, "bob")
		inA, inB := hasCall(t, optA.NG, a.ID), hasCall(t, optB.NG, a.ID)
		switch {
		case inA && !inB:
			onA++
		case inB && !inA:
			onB++
		default:
			t.Fatalf("call %d: on A %v, on B %v; want exactly one daemon", i, inA, inB)
		}
		hangupAndCheckBoth(t, a, b, optA.NG, optB.NG)
	}
	t.Logf("weights 3:1 -> %d calls on A, %d on B", onA, onB)
	if onB == 0 || onA <= onB {
		t.Fatalf("calls not spread by weight 3:1: %d on A, %d on B", onA, onB)
	}

	procB.Stop()
	for i := 0; i < 8; i++ {
		a, b := placeCall(t, alice, bob, "bob")
		if !hasCall(t, optA.NG, a.ID) {
			t.Fatalf("call %d after B stopped is not on A", i)
		}
		if i == 0 {
			checkMediaThrough(t, optA.NG, a, b)
		}
		hangupAndCheckBoth(t, a, b, optA.NG)
	}
}

// TestCallsProxyRestart: sipproxy restarts while calls spread over two
// mediads are up. The new process never saw their offers; each BYE still
// reaches the other phone along the Record-Route set and deletes the call
// on the daemon that holds it (the pool picks a call's daemon by
// rendezvous hashing of its call-id, and asks the others when that one
// does not know the call), so neither daemon keeps a call. The
// registrations survive the restart (--location-file): alice calls bob
// again, neither having registered since.
func TestCallsProxyRestart(t *testing.T) {
	_, optA := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
	_, optB := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999})
	px := startProxy(t, []string{optA.NG, optB.NG}, "--location-file="+filepath.Join(t.TempDir(), "location.json"))
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)
	type call struct{ a, b *phone.Call }
	var up []call
	for i := 0; i < 8; i++ {
		a, b := placeCall(t, alice, bob, "bob")
		up = append(up, call{a, b})
	}
	onA, onB := len(ngCalls(t, optA.NG)), len(ngCalls(t, optB.NG))
	if onA+onB != len(up) {
		t.Fatalf("%d calls up, %d on A and %d on B", len(up), onA, onB)
	}
	t.Logf("before the restart: %d calls on A, %d on B", onA, onB)
	px.restart(t)
	for _, c := range up {
		hangup(t, c.a, c.b)
	}
	for _, ng := range []string{optA.NG, optB.NG} {
		if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
			t.Errorf("%s still holds %v after the BYEs through the restarted proxy", ng, ngCalls(t, ng))
		}
	}
	a, b := placeCall(t, alice, bob, "bob")
	ng := optA.NG
	if !hasCall(t, ng, a.ID) {
		ng = optB.NG
	}
	checkMediaThrough(t, ng, a, b)
	hangupAndCheckBoth(t, a, b, optA.NG, optB.NG)
}

func hangupAndCheckBoth(t *testing.T, a, b *phone.Call, ngs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Hangup(ctx); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	<-b.Ended()
	for _, ng := range ngs {
		if ids := ngCalls(t, ng); len(ids) != 0 {
			t.Fatalf("%s still holds %v after BYE", ng, ids)
		}
	}
}

// TestCallsDrainDaemon: an operator drains a media daemon for maintenance
// with rtpengine-ctl ("set maxsessions 0") while sipproxy spreads calls
// over it and a mediad: its call keeps media and hangs up cleanly, new
// calls go to the other daemon (the proxy moves a refused offer on), and
// "set maxsessions -1" takes new calls again. The drained daemon is
// rtpengine (the reference) and mediad.
func TestCallsDrainDaemon(t *testing.T) {
	ctl, err := exec.LookPath("rtpengine-ctl")
	if err != nil {
		t.Skip("skipping: rtpengine-ctl not installed")
	}
	for _, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) {
			_, optA := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999})
			_, optB := daemon.ByNameTB(t, name, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999})
			px := startProxy(t, []string{optA.NG, optB.NG})
			alice := newPhone(t, px, "alice", false)
			bob := newPhone(t, px, "bob", false)
			set := func(v string) {
				t.Helper()
				_, port, _ := strings.Cut(optB.CLI, ":")
				out, err := exec.Command(ctl, "-ip", "127.0.0.1", "-port", port, "set", "maxsessions", v).CombinedOutput()
				if want := "Success setting maxsessions to " + v; err != nil || !strings.HasPrefix(string(out), want) {
					t.Fatalf("rtpengine-ctl set maxsessions %s: %v %q, want %q", v, err, out, want)
				}
			}
			// A call on B, the others hung up at once.
			var onB [2]*phone.Call
			for i := 0; i < 20 && onB[0] == nil; i++ {
				a, b := placeCall(t, alice, bob, "bob")
				if hasCall(t, optB.NG, a.ID) {
					onB = [2]*phone.Call{a, b}
				} else {
					hangupAndCheckBoth(t, a, b)
				}
			}
			if onB[0] == nil {
				t.Fatal("no call of 20 went to B")
			}
			set("0")
			for i := 0; i < 6; i++ {
				a, b := placeCall(t, alice, bob, "bob")
				if !hasCall(t, optA.NG, a.ID) || hasCall(t, optB.NG, a.ID) {
					t.Fatalf("call %d while B is drained is not on A alone", i)
				}
				hangupAndCheckBoth(t, a, b, optA.NG)
			}
			checkMediaThrough(t, optB.NG, onB[0], onB[1])
			hangupAndCheckBoth(t, onB[0], onB[1], optB.NG)
			set("-1")
			back := false
			for i := 0; i < 20 && !back; i++ {
				a, b := placeCall(t, alice, bob, "bob")
				back = hasCall(t, optB.NG, a.ID)
				hangupAndCheckBoth(t, a, b)
			}
			if !back {
				t.Fatal("no call of 20 went to B after set maxsessions -1")
			}
		})
	}
}
