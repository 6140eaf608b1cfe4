package router

import (
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestHandleStateless: a REGISTER for us is answered through send, with
// the reply addressed per Via (rport: the source); anything that needs a
// transaction is left alone.
func TestHandleStateless(t *testing.T) {
	r, relayed := testRouter(t)
	udpRegister := strings.Replace(registerBob, "SIP/2.0/WSS df7jal23ls0d.invalid;branch", "SIP/2.0/UDP 192.168.1.2:5070;rport;branch", 1)
	var sent []*sip.Response
	send := func(res *sip.Response) error { sent = append(sent, res); return nil }

	if !r.HandleStateless(parse(t, udpRegister, "UDP", "10.0.0.9:40000"), testSockets[0], replyFunc(send)) {
		t.Fatal("REGISTER for us not taken")
	}
	if len(sent) != 1 || sent[0].StatusCode != 200 {
		t.Fatalf("replies %v", sent)
	}
	if d := sent[0].Destination(); d != "10.0.0.9:40000" {
		t.Errorf("reply to %q, want the source (rport)", d)
	}
	if ct := sent[0].GetHeaders("Contact"); len(ct) != 1 || !strings.Contains(ct[0].Value(), "10.0.0.9:40000") {
		t.Errorf("contacts %v", ct)
	}
	if bs, _ := r.reg.Lookup(t.Context(), "bob", "INVITE"); len(bs) != 1 {
		t.Errorf("bindings %v", bs)
	}

	if len(*relayed) != 0 {
		t.Errorf("stateless path relayed %d requests", len(*relayed))
	}
	noBranch := strings.Replace(inviteBob, "branch=z9hG4bK1", "branch=1", 1)
	if r.HandleStateless(parse(t, noBranch, "UDP", "10.0.0.9:40000"), testSockets[0], replyFunc(send)) {
		t.Error("request without an RFC 3261 branch taken")
	}
}

// TestHandleResponse: only responses of a branch being relayed over UDP
// are taken, and they reach the relay in arrival order; a failure is
// ACKed (again for its retransmission, which the relay does not see).
func TestHandleResponse(t *testing.T) {
	r, _ := testRouter(t)
	var written []*sip.Request
	r.writeHook = func(req *sip.Request) error { written = append(written, req); return nil }
	res := func(code int, method string) *sip.Response {
		raw := map[int]string{180: "SIP/2.0 180 Ringing", 200: "SIP/2.0 200 OK", 486: "SIP/2.0 486 Busy Here"}[code] + "\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\n" +
			"Call-ID: x\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
		m, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Response)
	}
	inv := parse(t, strings.Replace(inviteBob, "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1",
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours", 1), "UDP", "")
	inv.SetDestination("127.0.0.1:5080")
	inv.Laddr = sip.Addr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
	newRun := func() *relayRun {
		return &relayRun{r: r, events: make(chan event, eventsSize), done: make(chan struct{})}
	}
	if r.HandleResponse(res(180, "INVITE")) {
		t.Fatal("response of no branch taken")
	}
	run := newRun()
	tx, err := r.startUDPTx(run, 0, inv)
	if err != nil || len(written) != 1 {
		t.Fatalf("start: %v, %d sent", err, len(written))
	}
	if !r.HandleResponse(res(180, "INVITE")) || !r.HandleResponse(res(200, "INVITE")) {
		t.Fatal("branch responses not taken")
	}
	if r.HandleResponse(res(200, "CANCEL")) {
		t.Error("CANCEL response (same branch) taken for the INVITE")
	}
	if a, b := <-run.events, <-run.events; a.res.StatusCode != 180 || b.res.StatusCode != 200 {
		t.Errorf("order %d, %d", a.res.StatusCode, b.res.StatusCode)
	}
	r.HandleResponse(res(200, "INVITE")) // a 2xx retransmission goes to the hook, not the relay
	if len(run.events) != 0 {
		t.Errorf("2xx retransmission posted")
	}
	tx.Terminate()
	if r.HandleResponse(res(200, "INVITE")) {
		t.Error("response taken after the branch ended")
	}

	// A failure: ACKed at once, and again for its retransmission.
	run = newRun()
	failed, err := r.startUDPTx(run, 0, inv)
	if err != nil {
		t.Fatal(err)
	}
	written = nil
	r.HandleResponse(res(486, "INVITE"))
	r.HandleResponse(res(486, "INVITE"))
	if len(written) != 2 || !written[0].IsAck() || !strings.Contains(written[0].To().Value(), "tag=2") ||
		!strings.Contains(written[0].Via().Value(), "branch=z9hG4bKours") {
		t.Fatalf("ACKs %v", written)
	}
	if len(run.events) != 1 {
		t.Errorf("%d responses posted, want the failure once", len(run.events))
	}
	close(run.done)
	// Once the transaction is finished, what is kept of it ACKs a
	// retransmission of the failure, from the same listener to the same
	// place.
	failed.finish()
	written = nil
	if !r.HandleResponse(res(486, "INVITE")) || len(written) != 1 {
		t.Fatalf("failure retransmission after finish: %d ACKs", len(written))
	}
	if a := written[0]; !a.IsAck() || a.Destination() != "127.0.0.1:5080" || a.Transport() != "UDP" ||
		a.Laddr.String() != "127.0.0.1:5060" || !strings.Contains(a.To().Value(), "tag=2") {
		t.Errorf("kept ACK: %s to %s over %s from %s", a.StartLine(), a.Destination(), a.Transport(), a.Laddr.String())
	}
	if f, ok := r.finishedCli.client("z9hG4bKours"); !ok || f.method != sip.INVITE || f.res != nil {
		t.Errorf("kept: %+v %v", f, ok)
	}

	// A full relay: the response is dropped before the transaction
	// changes state, so its retransmission is taken.
	run = newRun()
	tx, err = r.startUDPTx(run, 0, inv)
	if err != nil {
		t.Fatal(err)
	}
	for range eventsSize {
		run.tryPost(event{})
	}
	if r.HandleResponse(res(200, "INVITE")); r.Metrics.InboxFull.Load() != 1 {
		t.Error("inbox_full not counted")
	}
	for range eventsSize {
		<-run.events
	}
	r.HandleResponse(res(200, "INVITE"))
	if e := <-run.events; e.res == nil || e.res.StatusCode != 200 {
		t.Errorf("retransmitted 200 not passed on: %+v", e)
	}
	tx.Terminate()
	close(run.done)
}

const ackBob = `
ACK sip:bob@192.168.1.3:5080 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKack1
Route: <sip:127.0.0.1;lr>
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:bob@127.0.0.1>;tag=b1
Call-ID: c1@test
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

`

// TestHandleStatelessAck: an in-dialog ACK without body is relayed inline
// (never replied to).
func TestHandleStatelessAck(t *testing.T) {
	r, relayed := testRouter(t)
	var sent []*sip.Response
	send := func(res *sip.Response) error { sent = append(sent, res); return nil }

	if !r.HandleStateless(parse(t, ackBob, "UDP", "10.0.0.9:5070"), testSockets[0], replyFunc(send)) {
		t.Fatal("in-dialog ACK not taken")
	}
	if len(*relayed) != 1 || !(*relayed)[0].Req.IsAck() || len(sent) != 0 {
		t.Fatalf("relayed %d, replies %v", len(*relayed), sent)
	}
	if c := (*relayed)[0]; c.DstURI != nil || c.Req.Route() != nil {
		t.Errorf("loose_route: $du %v, Route %v", c.DstURI, c.Req.Route())
	}

	if len(sent) != 0 {
		t.Errorf("replies to ACKs: %v", sent)
	}
}

// TestAckShortensKept2xx: the ACK of a relayed 2xx moves the 2xx kept for
// retransmissions to the short-lived map, or marks it for finish.
func TestAckShortensKept2xx(t *testing.T) {
	r, _ := testRouter(t)
	ack := parse(t, ackBob, "UDP", "10.0.0.9:5070")
	key := dialogKey(ack)
	if key != "c1@test 1 b1" {
		t.Fatalf("dialog key %q", key)
	}
	rt := &retransmitter{r: r, branch: "z9hG4bKx", dialog: key}
	r.dialogs.put(key, rt)
	ok200 := sip.NewResponse(200, "OK")
	r.finishedCli.putClient("z9hG4bKx", sip.INVITE, ok200, "10.0.0.9:5070", "UDP", "")
	r.ackSeen(ack)
	if _, ok := r.finishedCli.client("z9hG4bKx"); ok {
		t.Error("2xx still kept 64*T1 after its ACK")
	}
	if f, ok := r.ackedCli.client("z9hG4bKx"); !ok || string(f.res) != ok200.String() || f.addr != "10.0.0.9:5070" || f.proto != "UDP" {
		t.Errorf("2xx not kept for T4: %+v %v", f, ok)
	}
	if _, _, acked := rt.take(); !acked {
		t.Error("retransmitter not marked acked")
	}
	if _, ok := r.dialogs.get(key); ok {
		t.Error("dialog still waiting for its ACK")
	}
}
