package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/registrar"
	"sipmedia/sipproxy/internal/transport"
)

// staticSockets is a fixed listener set (no real sockets needed for steps).
type staticSockets []transport.Socket

func (s staticSockets) Sockets() []transport.Socket   { return s }
func (s staticSockets) FlowOpen(tp, addr string) bool { return true }

var testSockets = staticSockets{
	{Proto: "udp", IP: "127.0.0.1", Port: 5060},
	{Proto: "tcp", IP: "127.0.0.1", Port: 5060},
	{Proto: "tls", IP: "127.0.0.1", Port: 5061},
	{Proto: "ws", IP: "127.0.0.1", Port: 8080},
	{Proto: "wss", IP: "127.0.0.1", Port: 8443},
}

// recTx records the replies a step sends.
type recTx struct {
	mu      sync.Mutex
	replies []*sip.Response
	done    chan struct{}
}

func newRecTx() *recTx { return &recTx{done: make(chan struct{})} }

func (t *recTx) Terminate()                         {}
func (t *recTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (t *recTx) Done() <-chan struct{}              { return t.done }
func (t *recTx) Err() error                         { return nil }
func (t *recTx) Acks() <-chan *sip.Request          { return nil }
func (t *recTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (t *recTx) Respond(res *sip.Response) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.replies = append(t.replies, res)
	return nil
}

func (t *recTx) codes() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for _, r := range t.replies {
		out = append(out, r.StatusCode)
	}
	return out
}

// testRouter is a router whose relay only records that it was called.
func testRouter(t testing.TB) (*Router, *[]*Ctx) {
	t.Helper()
	reg := &registrar.Registrar{Store: registrar.NewMemStore(), Limits: registrar.Limits{Default: 3600, Min: 60}}
	r := New(discardLog(), Config{Domains: []string{"example.com"}}, nil, testSockets, reg, nil)
	var relayed []*Ctx
	r.relayHook = func(_ context.Context, c *Ctx) { relayed = append(relayed, c) }
	return r, &relayed
}

// parse builds a request as a transport would deliver it.
func parse(t *testing.T, raw, proto, src string) *sip.Request {
	t.Helper()
	raw = strings.ReplaceAll(strings.TrimLeft(raw, "\n"), "\n", "\r\n")
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	req := msg.(*sip.Request)
	req.SetTransport(proto)
	req.SetSource(src)
	return req
}

func ctxFor(t *testing.T, r *Router, raw string) (*Ctx, *recTx) {
	t.Helper()
	tx := newRecTx()
	return newCtx(r, parse(t, raw, "UDP", "10.0.0.9:5070"), tx), tx
}

const inviteBob = `
INVITE sip:bob@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1
From: <sip:alice@127.0.0.1>;tag=a1
To: <sip:bob@127.0.0.1>
Call-ID: c1@test
CSeq: 1 INVITE
Contact: <sip:alice@192.168.1.2:5070>
Max-Forwards: 70
Content-Length: 0

`

// sentLog records the status codes of the replies sent over UDP.
type sentLog struct {
	mu    sync.Mutex
	codes []int
}

func (l *sentLog) send(res *sip.Response) error {
	l.mu.Lock()
	l.codes = append(l.codes, res.StatusCode)
	l.mu.Unlock()
	return nil
}

func (l *sentLog) get() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.codes...)
}

func (l *sentLog) reset() {
	l.mu.Lock()
	l.codes = nil
	l.mu.Unlock()
}

// replyFunc is a transport.Replier for tests: every reply, those sent as
// bytes parsed back, goes to the function.
type replyFunc func(*sip.Response) error

func (f replyFunc) Reply(res *sip.Response) error { return f(res) }

func (f replyFunc) ReplyWire(wire []byte, dst string) error {
	m, err := sip.ParseMessage(wire)
	if err != nil {
		return err
	}
	res, ok := m.(*sip.Response)
	if !ok {
		return fmt.Errorf("not a response: %q", wire)
	}
	res.SetDestination(dst)
	return f(res)
}

// takeUDP hands raw to the router as read on the UDP listener; the
// router must take it.
func takeUDP(t *testing.T, r *Router, raw string, send func(*sip.Response) error) {
	t.Helper()
	if !r.HandleStateless(parse(t, raw, "UDP", "10.0.0.9:5070"), testSockets[0], replyFunc(send)) {
		t.Fatalf("not taken: %s", strings.SplitN(strings.TrimSpace(raw), "\n", 2)[0])
	}
}
