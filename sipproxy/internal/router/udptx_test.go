package router

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestUDPTxTimers: a request without reply is retransmitted (doubling,
// a non-INVITE capped at T2) and times out after 64*T1 with
// sip.ErrTransactionTimeout; an INVITE stops both at its first
// provisional reply.
func TestUDPTxTimers(t *testing.T) {
	shortTimers(t, 10*time.Millisecond, 40*time.Millisecond, 50*time.Millisecond)

	r, _ := testRouter(t)
	var mu sync.Mutex
	sent := map[sip.RequestMethod][]time.Time{}
	r.writeHook = func(req *sip.Request) error {
		mu.Lock()
		sent[req.Method] = append(sent[req.Method], time.Now())
		mu.Unlock()
		return nil
	}
	count := func(m sip.RequestMethod) int {
		mu.Lock()
		defer mu.Unlock()
		return len(sent[m])
	}
	newRun := func() *relayRun {
		return &relayRun{r: r, events: make(chan event, eventsSize), done: make(chan struct{})}
	}
	req := func(method string, branch string) *sip.Request {
		raw := strings.Replace(inviteBob, "branch=z9hG4bK1", "branch="+branch, 1)
		raw = strings.ReplaceAll(raw, "INVITE", method)
		m := parse(t, raw, "UDP", "")
		m.SetDestination("127.0.0.1:5080")
		return m
	}

	run := newRun()
	start := time.Now()
	if _, err := r.startUDPTx(run, 0, req("BYE", "z9hG4bKbye")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-run.events:
		if e.kind != evDone || !errors.Is(e.err, sip.ErrTransactionTimeout) {
			t.Fatalf("event %+v", e)
		}
		if d := time.Since(start); d < 64*sip.T1 {
			t.Errorf("timeout after %v, before Timer F", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout")
	}
	// Sent at 0, then 10, 30 (20), 70 (40 = T2), 110, ... until 640 ms.
	if n := count("BYE"); n < 10 || n > 18 {
		t.Errorf("BYE sent %d times in 64*T1", n)
	}
	if _, ok := r.udpTxs.get("z9hG4bKbye"); ok {
		t.Error("timed out transaction still indexed")
	}

	run = newRun()
	tx, err := r.startUDPTx(run, 0, req("INVITE", "z9hG4bKinv"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(25 * time.Millisecond) // one retransmission
	raw := "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKinv\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n" +
		"To: <sip:bob@127.0.0.1>;tag=b\r\nCall-ID: c1@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !r.HandleResponse(m.(*sip.Response)) {
		t.Fatal("180 not taken")
	}
	n := count("INVITE")
	time.Sleep(64*sip.T1 + 50*time.Millisecond)
	if count("INVITE") != n || n < 2 {
		t.Errorf("INVITE sent %d times before the 180, %d in all", n, count("INVITE"))
	}
	if e := <-run.events; e.kind != evResponse || e.res.StatusCode != 180 {
		t.Errorf("event %+v", e)
	}
	if len(run.events) != 0 {
		t.Error("timeout after a provisional reply")
	}
	tx.Terminate()
}

// shortTimers sets sipgo's T1, T2 and T4 (package-wide) for the test and
// restores them after it.
func shortTimers(t *testing.T, t1, t2, t4 time.Duration) {
	o1, o2, o4 := sip.T1, sip.T2, sip.T4
	sip.SetTimers(t1, t2, t4)
	t.Cleanup(func() { sip.SetTimers(o1, o2, o4) })
}
