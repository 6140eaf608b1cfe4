package test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

// udpUA is a raw UDP endpoint for tests that need exact bytes.
type udpUA struct {
	t *testing.T
	c *net.UDPConn
}

func newUDPUA(t *testing.T) *udpUA {
	t.Helper()
	c := testport.UDP(t)
	return &udpUA{t: t, c: c}
}

func (u *udpUA) addr() string { return u.c.LocalAddr().String() }

func (u *udpUA) send(to string, msg string) {
	u.t.Helper()
	a, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.c.WriteTo([]byte(msg), a); err != nil {
		u.t.Fatal(err)
	}
}

// read returns the next datagram whose first line starts with prefix,
// skipping others (provisional replies).
func (u *udpUA) read(prefix string) []byte {
	u.t.Helper()
	buf := make([]byte, 8192)
	for {
		_ = u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := u.c.ReadFrom(buf)
		if err != nil {
			u.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if bytes.HasPrefix(buf[:n], []byte(prefix)) {
			return bytes.Clone(buf[:n])
		}
	}
}

// headers returns the values of every header named name in msg.
func headers(msg []byte, name string) []string {
	var out []string
	for _, l := range strings.Split(string(msg), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestUDP2xxRetransmission: the UAS's retransmissions of its 200 reach
// the caller byte for byte as the first relayed 200 (kept by the proxy
// after its transaction ended), before the ACK and after it.
func TestUDP2xxRetransmission(t *testing.T) {
	p := startProxy(t)
	uas, uac := newUDPUA(t), newUDPUA(t)

	uas.send(p.addr(), fmt.Sprintf("REGISTER sip:%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;rport;branch=z9hG4bK-reg2xx\r\n"+
		"From: <sip:bob2xx@%[1]s>;tag=r1\r\nTo: <sip:bob2xx@%[1]s>\r\n"+
		"Call-ID: reg2xx@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob2xx@%[2]s>\r\n"+
		"Max-Forwards: 70\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n", p.addr(), uas.addr()))
	uas.read("SIP/2.0 200 ")

	uac.send(p.addr(), fmt.Sprintf("INVITE sip:bob2xx@%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;rport;branch=z9hG4bK-inv2xx\r\n"+
		"From: <sip:alice@%[1]s>;tag=a1\r\nTo: <sip:bob2xx@%[1]s>\r\n"+
		"Call-ID: call2xx@test\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@%[2]s>\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.addr(), uac.addr()))
	inv := uas.read("INVITE ")
	var ok bytes.Buffer
	ok.WriteString("SIP/2.0 200 OK\r\n")
	for _, v := range headers(inv, "Via") {
		ok.WriteString("Via: " + v + "\r\n")
	}
	for _, v := range headers(inv, "Record-Route") {
		ok.WriteString("Record-Route: " + v + "\r\n")
	}
	fmt.Fprintf(&ok, "From: %s\r\nTo: %s;tag=b1\r\nCall-ID: call2xx@test\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:bob2xx@%s>\r\nContent-Length: 0\r\n\r\n", headers(inv, "From")[0], headers(inv, "To")[0], uas.addr())
	uas.send(p.addr(), ok.String())
	first := uac.read("SIP/2.0 200 ")

	// The relay has ended once the caller has the 200; the proxy answers
	// the retransmission from what it kept.
	time.Sleep(100 * time.Millisecond)
	uas.send(p.addr(), ok.String())
	if again := uac.read("SIP/2.0 200 "); !bytes.Equal(again, first) {
		t.Fatalf("retransmitted 200 differs:\n%s\nfirst:\n%s", again, first)
	}

	// The ACK, routed by the Record-Route set, reaches the UAS; a 200
	// retransmitted after it (the ACK lost beyond the proxy) is still
	// relayed.
	var ack bytes.Buffer
	fmt.Fprintf(&ack, "ACK sip:bob2xx@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;rport;branch=z9hG4bK-ack2xx\r\n", uas.addr(), uac.addr())
	rr := headers(first, "Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		ack.WriteString("Route: " + rr[i] + "\r\n")
	}
	fmt.Fprintf(&ack, "From: <sip:alice@%[1]s>;tag=a1\r\nTo: <sip:bob2xx@%[1]s>;tag=b1\r\n"+
		"Call-ID: call2xx@test\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.addr())
	if len(rr) == 0 {
		t.Fatalf("200 without Record-Route:\n%s", first)
	}
	uac.send(p.addr(), ack.String())
	uas.read("ACK ")
	uas.send(p.addr(), ok.String())
	if again := uac.read("SIP/2.0 200 "); !bytes.Equal(again, first) {
		t.Fatalf("200 retransmitted after the ACK differs:\n%s\nfirst:\n%s", again, first)
	}
}
