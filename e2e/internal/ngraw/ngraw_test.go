package ngraw

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExchangeMatchesCookieAndResends runs against a tiny UDP peer that
// drops the first copy of each request and answers the second, after a
// stale reply with another cookie.
func TestExchangeMatchesCookieAndResends(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		seen := map[string]int{}
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			cookie, _, _ := strings.Cut(string(buf[:n]), " ")
			seen[cookie]++
			if seen[cookie] < 2 {
				continue // lose the first copy
			}
			pc.WriteTo([]byte("stale d6:result2:oke"), from)
			pc.WriteTo([]byte(cookie+" d6:result4:ponge"), from)
		}
	}()
	defer func() { pc.Close(); <-done }()

	c, err := Dial(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Resend = 50 * time.Millisecond
	body, err := c.Exchange(context.Background(), "abc", []byte("abc d7:command4:pinge"), 2*time.Second)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if string(body) != "d6:result4:ponge" {
		t.Fatalf("body %q", body)
	}
	c.Resend = 0
	if _, err := c.Exchange(context.Background(), "xyz", []byte("xyz d7:command4:pinge"), 200*time.Millisecond); !errors.Is(err, ErrNoReply) {
		t.Fatalf("without resend: err %v, want ErrNoReply", err)
	}
}
