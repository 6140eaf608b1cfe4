package nat

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestFixContact(t *testing.T) {
	raw := "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK1\r\n" +
		"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=600\r\nContent-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	n, err := FixContact(msg, "127.0.0.1:40000")
	if err != nil || n != 1 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	c := msg.(*sip.Request).Contact()
	if got, want := c.Address.String(), "sip:alice@127.0.0.1:40000;transport=ws"; got != want {
		t.Errorf("contact %q, want %q", got, want)
	}
	if v, _ := c.Params.Get("expires"); v != "600" {
		t.Errorf("expires param lost: %q", v)
	}
	if _, err := FixContact(msg, "garbage"); err == nil {
		t.Error("bad source accepted")
	}
}

func TestReceivedURI(t *testing.T) {
	for _, tc := range []struct{ src, tp, want string }{
		{"10.0.0.1:5060", "UDP", "sip:10.0.0.1:5060"},
		{"10.0.0.1:4000", "WSS", "sip:10.0.0.1:4000;transport=wss"},
		{"10.0.0.1:4000", "TCP", "sip:10.0.0.1:4000;transport=tcp"},
	} {
		if got := ReceivedURI(tc.src, tc.tp); got != tc.want {
			t.Errorf("ReceivedURI(%q,%q)=%q want %q", tc.src, tc.tp, got, tc.want)
		}
	}
}
