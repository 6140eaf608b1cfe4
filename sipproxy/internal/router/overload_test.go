package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/overload"
)

// TestOverloadShedsNewInvites: while the detector refuses every new call, a new
// INVITE over UDP gets 503 through its transaction (resent for its
// retransmission, its ACK absorbed) and is never routed; requests within
// a dialog still are.
func TestOverloadShedsNewInvites(t *testing.T) {
	shortTimers(t, 20*time.Millisecond, 80*time.Millisecond, 50*time.Millisecond)
	r, _ := testRouter(t)
	det := overload.New(10*time.Millisecond, discardLog())
	r.cfg.Overload = det
	routed := make(chan *Ctx, 4)
	r.relayHook = func(_ context.Context, c *Ctx) { routed <- c }
	var sent sentLog
	take := func(raw string) {
		t.Helper()
		takeUDP(t, r, raw, sent.send)
	}
	codes := sent.get
	for range 100 {
		det.Observe(time.Second)
	}
	if det.Wait() < 10*time.Millisecond {
		t.Fatalf("average wait %v", det.Wait())
	}

	inv := strings.Replace(inviteBob, "branch=z9hG4bK1", "branch=z9hG4bKshed1", 1)
	take(inv)
	take(inv) // its retransmission
	ack := strings.NewReplacer("INVITE sip:", "ACK sip:", "1 INVITE", "1 ACK", "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=x").Replace(inv)
	take(ack)
	if got := codes(); len(got) != 2 || got[0] != 503 || got[1] != 503 {
		t.Fatalf("replies %v, want 503 twice", got)
	}
	if det.Shed.Load() != 1 {
		t.Fatalf("shed %d, want 1", det.Shed.Load())
	}

	// In a dialog (To tag): routed as usual.
	reinv := strings.NewReplacer("branch=z9hG4bK1", "branch=z9hG4bKshed2", "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1\nRoute: <sip:127.0.0.1;lr>", "1 INVITE", "2 INVITE").Replace(inviteBob)
	take(reinv)
	bye := strings.NewReplacer("INVITE sip:", "BYE sip:", "branch=z9hG4bK1", "branch=z9hG4bKshed3", "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=b1\nRoute: <sip:127.0.0.1;lr>", "1 INVITE", "3 BYE").Replace(inviteBob)
	take(bye)
	got := map[string]bool{}
	for range 2 {
		select {
		case c := <-routed:
			got[string(c.Req.Method)] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("requests in a dialog not routed while overloaded (routed: %v)", got)
		}
	}
	if !got["INVITE"] || !got["BYE"] {
		t.Fatalf("routed %v, want the re-INVITE and the BYE", got)
	}
	select {
	case c := <-routed:
		t.Fatalf("%s routed: the refused INVITE or its ACK went on", c.Req.Method)
	case <-time.After(50 * time.Millisecond):
	}
	if det.Shed.Load() != 1 {
		t.Fatalf("shed %d after in-dialog requests, want 1", det.Shed.Load())
	}
	time.Sleep(4 * sip.T1) // the ACK stopped Timer G: no more 503s
	if n := len(codes()); n != 2 {
		t.Fatalf("%d replies after the ACK, want 2", n)
	}
}
