package graphite

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	got := string(Format("p.", []Line{{"offer_count", "3"}, {"start recording_time_min", "0.000000"}}, time.Unix(1700000000, 0)))
	want := "p.offer_count 3 1700000000\np.start recording_time_min 0.000000 1700000000\n"
	if got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
}

type countSource struct{ ticks, reports atomic.Int64 }

func (s *countSource) Tick(time.Time) { s.ticks.Add(1) }
func (s *countSource) Report(time.Time) []Line {
	n := s.reports.Add(1)
	return []Line{{"reports", string(rune('0' + n%10))}}
}

// TestSenderReconnects: reports arrive every interval; after the server
// drops the connection the sender connects again and goes on; a server
// that is down costs reports, not the sender.
func TestSenderReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src := &countSource{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := &Sender{Addr: ln.Addr().String(), Interval: time.Second, Prefix: "x.", Source: src}
	go func() { s.Run(ctx); close(done) }()

	read := func(c net.Conn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("no report: %v", err)
		}
		return line
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if l := read(c); !strings.HasPrefix(l, "x.reports ") {
		t.Errorf("report %q", l)
	}
	c.Close()
	// The next write fails (or lands in a closed socket); the sender
	// then connects again.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(6 * time.Second))
	c2, err := ln.Accept()
	if err != nil {
		t.Fatalf("no reconnection: %v", err)
	}
	defer c2.Close()
	if l := read(c2); !strings.HasPrefix(l, "x.reports ") {
		t.Errorf("report after reconnecting %q", l)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if src.ticks.Load() < 2 {
		t.Errorf("%d ticks", src.ticks.Load())
	}
}
