package ngproto

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails the test if goroutines started during it are still
// running shortly after it ends.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// startServer serves srv on a fresh loopback socket until the test ends.
func startServer(t *testing.T, srv *Server, addr string) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		conn.Close()
	})
	return conn
}

// echoHandler answers ping with pong and everything else with ok, echoing
// call-id and command plus the server's name.
func echoHandler(name string) Handler {
	return HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		if req.Str("command") == "ping" {
			return Pong()
		}
		r := OK()
		r["call-id"] = req.Str("call-id")
		r["command"] = req.Str("command")
		r["server"] = name
		return r
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rawSocket(t *testing.T, to string) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readReply(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return string(buf[:n])
}

func cookieOf(s string) string {
	c, _, _ := strings.Cut(s, " ")
	return c
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func dictEqual(a, b Dict) bool { return reflect.DeepEqual(a, b) }

// readReplyFor reads replies until one carries cookie (late answers to
// earlier retries are skipped).
func readReplyFor(t *testing.T, c *net.UDPConn, cookie string) string {
	t.Helper()
	for {
		if r := readReply(t, c); cookieOf(r) == cookie {
			return r
		}
	}
}
