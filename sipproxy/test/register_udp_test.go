package test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestUDPRegisterRetransmission: REGISTER over UDP is answered without a
// transaction, so a retransmission reaches the registrar: it must get the
// same 200 (bindings unchanged), and a lower CSeq of the same Call-ID a 400.
func TestUDPRegisterRetransmission(t *testing.T) {
	p := startProxy(t)
	c, err := net.Dial("udp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	register := func(cseq int, contact string) string {
		t.Helper()
		msg := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;rport;branch=z9hG4bK-rt%d\r\n"+
			"From: <sip:retrans@%s>;tag=f1\r\nTo: <sip:retrans@%s>\r\n"+
			"Call-ID: retrans-1@test\r\nCSeq: %d REGISTER\r\nContact: <sip:retrans@%s>\r\n"+
			"Max-Forwards: 70\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
			p.addr(), la, cseq, p.addr(), p.addr(), cseq, contact)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no reply to CSeq %d: %v", cseq, err)
		}
		return string(buf[:n])
	}
	first := register(5, la)
	if !strings.HasPrefix(first, "SIP/2.0 200 ") || !strings.Contains(first, "expires=") {
		t.Fatalf("first REGISTER:\n%s", first)
	}
	if !strings.Contains(first, ";received=127.0.0.1") {
		t.Errorf("rport/received not filled in the reply's Via:\n%s", first)
	}
	again := register(5, la)
	if !strings.HasPrefix(again, "SIP/2.0 200 ") {
		t.Fatalf("retransmission:\n%s", again)
	}
	if rs := p.registrations(t, "retrans"); len(rs) != 1 {
		t.Fatalf("bindings after retransmission: %+v", rs)
	}
	if old := register(4, la); !strings.HasPrefix(old, "SIP/2.0 400 ") {
		t.Fatalf("lower CSeq:\n%s", old)
	}
	c2, _ := p.counters()
	if c2["transactions_active"] != 0 {
		t.Errorf("transactions_active %d", c2["transactions_active"])
	}
}
