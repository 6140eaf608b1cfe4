package router

import (
	"context"
	"testing"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/transport"
)

// FuzzRoute feeds bytes through the transport's structural check, sipgo's
// parser and the whole routing chain (relay recorded, not sent), with and
// without a transaction, and responses through HandleResponse: bad input
// must end in a reply or a drop, never a panic.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{inviteBob, registerBob,
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK2\r\n\r\n",
		"BYE sip:a@127.0.0.1 SIP/2.0\r\nRoute: <sip:127.0.0.1;lr;r2=on>,<sip:127.0.0.1:8443;transport=wss;lr;r2=on>\r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n", "\r\n\r\n", "garbage"} {
		f.Add([]byte(s))
	}
	r, _ := testRouter(f)
	r.relayHook = func(context.Context, *Ctx) {}
	f.Fuzz(func(t *testing.T, data []byte) {
		if transport.Check(data) != nil {
			return
		}
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		if res, ok := msg.(*sip.Response); ok {
			r.HandleResponse(res)
			return
		}
		req := msg.(*sip.Request)
		req.SetTransport("UDP")
		req.SetSource("10.0.0.9:5070")
		r.Handle(req, newRecTx())
		// The UDP listener's stateless path, on a fresh copy.
		msg, _ = sip.ParseMessage(data)
		req = msg.(*sip.Request)
		req.SetTransport("UDP")
		req.SetSource("10.0.0.9:5070")
		r.HandleStateless(req, testSockets[0], replyFunc(func(*sip.Response) error { return nil }))
		if r.Metrics.Panics.Load() != 0 {
			t.Fatalf("routing panicked on %q", data)
		}
	})
}
