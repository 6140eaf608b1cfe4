package test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// options is an OPTIONS to the proxy itself from local (ip:port) over
// transport, answered 484 by the chain ($rU==NULL).
func options(p *proxy, transport, local string, n int) string {
	return fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-pike%d\r\n"+
		"From: <sip:scan@example.com>;tag=p%d\r\nTo: <sip:%s>\r\nCall-ID: pike-%d@test\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.addr(), transport, local, n, n, p.addr(), n)
}

// udpAsked sends one OPTIONS from c and reports whether a reply came
// within wait.
func udpAsked(t *testing.T, p *proxy, c *net.UDPConn, n int, wait time.Duration) bool {
	t.Helper()
	to, _ := net.ResolveUDPAddr("udp", p.addr())
	if _, err := c.WriteTo([]byte(options(p, "UDP", c.LocalAddr().String(), n)), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(buf)
	return err == nil
}

// tcpAsked is udpAsked over a new TCP connection from ip.
func tcpAsked(t *testing.T, p *proxy, ip string, n int, wait time.Duration) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(options(p, "TCP", c.LocalAddr().String(), n))); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SIP/2.0 ")
}

func udpFrom(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPike: with --pike-density=5 a source (127.0.0.2) sending an
// eighth request within the window is banned: its requests get no answer,
// over UDP and TCP alike, until the ban ends; another source
// (127.0.0.3) and the proxy's own address (127.0.0.1, any rate) are
// answered throughout.
func TestPike(t *testing.T) {
	p := startProxy(t, "--pike-density=5", "--pike-interval=10s", "--pike-ban=2s")
	flood := udpFrom(t, "127.0.0.2")
	answered := 0
	for i := 0; i < 8; i++ {
		wait := time.Second
		if i >= 5 {
			wait = 300 * time.Millisecond // none expected
		}
		if udpAsked(t, p, flood, i, wait) {
			answered++
		}
	}
	banned := time.Now()
	if answered != 5 {
		t.Fatalf("%d of 8 requests from the flooding source answered, want 5", answered)
	}
	if !udpAsked(t, p, udpFrom(t, "127.0.0.3"), 100, time.Second) {
		t.Fatal("another source was not answered")
	}
	own := udpFrom(t, "127.0.0.1")
	for i := 0; i < 20; i++ {
		if !udpAsked(t, p, own, 200+i, time.Second) {
			t.Fatalf("request %d from the proxy's own address not answered", i)
		}
	}
	if tcpAsked(t, p, "127.0.0.2", 300, 300*time.Millisecond) {
		t.Fatal("the banned source was answered over TCP")
	}
	c, err := p.counters()
	if err != nil || c["pike_banned"] != 1 || c["pike_dropped"] != 4 {
		t.Fatalf("counters %v (%v): want pike_banned 1, pike_dropped 4", c, err)
	}
	if !strings.Contains(p.log.String(), `msg="pike: flood, source banned" component=pike source=127.0.0.2`) {
		t.Fatalf("the ban is not logged:\n%s", p.log.String())
	}
	time.Sleep(time.Until(banned.Add(2100 * time.Millisecond)))
	if !tcpAsked(t, p, "127.0.0.2", 301, time.Second) || !udpAsked(t, p, flood, 302, time.Second) {
		t.Fatal("the source is not answered after its ban")
	}
}
