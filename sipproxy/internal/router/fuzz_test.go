package router

import (
	"context"
	"testing"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/transport"
)

// FuzzRoute feeds bytes through the transport's structural check, sipgo's
// parser and the whole routing chain (relay recorded, not sent), with and
// without a transaction, with and without the auth steps, and responses
// through HandleResponse: bad input must end in a reply or a drop, never a
// panic.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{inviteBob, registerBob,
		"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK2\r\n\r\n",
		"BYE sip:a@127.0.0.1 SIP/2.0\r\nRoute: <sip:127.0.0.1;lr;r2=on>,<sip:127.0.0.1:8443;transport=wss;lr;r2=on>\r\n\r\n",
		"SIP/2.0 200 OK\r\n\r\n", "\r\n\r\n", "garbage",
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK3\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n" +
			"Call-ID: r\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"a\", realm=\"127.0.0.1\", nonce=\"00\", uri=\"sip:127.0.0.1\", response=\"0\"\r\n\r\n"} {
		f.Add([]byte(s))
	}
	r, _ := testRouter(f)
	r.relayHook = func(context.Context, *Ctx) {}
	ra, _ := authRouter(f) // with the auth steps
	ra.relayHook = r.relayHook
	f.Fuzz(func(t *testing.T, data []byte) {
		if transport.Check(data) != nil {
			return
		}
		for _, r := range []*Router{r, ra} {
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
		}
	})
}
