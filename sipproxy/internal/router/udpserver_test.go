package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestUDPServerTx: requests over UDP get the router's own server
// transaction: retransmissions get the last reply (nothing before one), a
// CANCEL gets 200, reaches the relay and the INVITE gets 487, retransmitted
// until its ACK; a non-INVITE's final reply is resent for its
// retransmission after the transaction ended; a 2xx'd INVITE's
// retransmission is absorbed and a late CANCEL gets 200.
func TestUDPServerTx(t *testing.T) {
	shortTimers(t, 20*time.Millisecond, 80*time.Millisecond, 50*time.Millisecond)

	r, _ := testRouter(t)
	routed := make(chan *Ctx, 4)
	release := make(chan struct{})
	r.relayHook = func(_ context.Context, c *Ctx) { routed <- c; <-release }
	var sent sentLog
	codes := func() string {
		var b strings.Builder
		for _, c := range sent.get() {
			b.WriteString(" ")
			b.WriteString(map[int]string{100: "100", 200: "200", 487: "487"}[c])
		}
		return b.String()
	}
	take := func(raw string) {
		t.Helper()
		takeUDP(t, r, raw, sent.send)
	}
	reg := strings.Replace(registerBob, "SIP/2.0/WSS df7jal23ls0d.invalid;branch", "SIP/2.0/UDP 192.168.1.2:5070;rport;branch", 1)
	forget := sent.reset
	take(reg)
	forget()
	inv := strings.Replace(inviteBob, "branch=z9hG4bK1", "branch=z9hG4bKsrv1", 1)
	cancel := strings.NewReplacer("INVITE sip:", "CANCEL sip:", "1 INVITE", "1 CANCEL").Replace(inv)
	ack := strings.NewReplacer("INVITE sip:", "ACK sip:", "1 INVITE", "1 ACK", "To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=x").Replace(inv)

	take(inv)
	c := <-routed
	if _, ok := c.Tx.(*udpServerTx); !ok || c.In != testSockets[0] {
		t.Fatalf("routed with %T on %v", c.Tx, c.In)
	}
	cancelled := make(chan struct{}, 1)
	c.Tx.OnCancel(func(*sip.Request) { cancelled <- struct{}{} })
	take(inv) // nothing to resend yet
	c.Reply(100, "Trying")
	take(inv)
	if got := codes(); got != " 100 100" {
		t.Fatalf("replies%s, want 100 and its resend", got)
	}
	take(cancel)
	<-cancelled
	time.Sleep(3 * sip.T1) // Timer G resends the 487
	take(ack)
	n := len(sent.get())
	time.Sleep(4 * sip.T1) // no more after the ACK
	if got, m := codes(), len(sent.get()); !strings.HasPrefix(got, " 100 100 200 487 487") || m != n {
		t.Errorf("replies%s (%d after the ACK, want %d)", got, m, n)
	}
	release <- struct{}{}

	// A non-INVITE: the final reply ends the transaction; its
	// retransmission gets it again.
	bye := strings.NewReplacer("INVITE sip:", "BYE sip:", "1 INVITE", "2 BYE", "branch=z9hG4bKsrv1", "branch=z9hG4bKsrv2").Replace(inv)
	answer200 := func(req string) {
		t.Helper()
		take(req)
		(<-routed).Reply(200, "OK")
		release <- struct{}{}
		forget()
	}
	answer200(bye)
	take(bye)
	if got := codes(); got != " 200" {
		t.Errorf("BYE retransmission got%s", got)
	}

	// An INVITE answered 2xx: retransmission absorbed, late CANCEL 200.
	inv3 := strings.Replace(inv, "branch=z9hG4bKsrv1", "branch=z9hG4bKsrv3", 1)
	answer200(inv3)
	take(inv3)
	take(strings.Replace(cancel, "branch=z9hG4bKsrv1", "branch=z9hG4bKsrv3", 1))
	if got := codes(); got != " 200" {
		t.Errorf("after the 2xx: replies%s, want the CANCEL's 200 only", got)
	}
	select {
	case c := <-routed:
		t.Errorf("%s routed again", c.Req.Method)
	default:
	}
	if r.srvTxs.get("z9hG4bKsrv3") != nil {
		t.Error("finished transaction still live")
	}
}
