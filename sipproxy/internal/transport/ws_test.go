package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto/logbuf"
	"sipmedia/sipproxy/internal/config"
)

// startWS runs a Manager with one WS listener whose SIP server answers
// OPTIONS with 200.
func startWS(t *testing.T, opts Options) (*Manager, string) {
	t.Helper()
	return startWSLog(t, opts, io.Discard)
}

// startWSLog is startWS with sipgo's and the manager's log written to w.
func startWSLog(t *testing.T, opts Options, w io.Writer) (*Manager, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(w, nil))
	var m *Manager
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(
		sip.WithTransportLayerLogger(log),
		sip.WithTransportLayerReadFilter(func(i sip.TransportReadProps, d []byte) ([]byte, error) { return m.ReadFilter()(i, d) })))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	m = New(log, ua, srv, opts)
	if err := m.Start(context.Background(), []config.Listen{{Proto: "ws", IP: "127.0.0.1", Port: 0}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); ua.Close() })
	return m, m.Sockets()[0].Addr()
}

func options(branch string) []byte {
	return []byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK" + branch +
		"\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: " + branch +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
}

func dial(t *testing.T, ctx context.Context, addr string, hdr http.Header, proto ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if proto == nil {
		proto = []string{"sip"}
	}
	return websocket.Dial(ctx, "ws://"+addr, &websocket.DialOptions{Subprotocols: proto, HTTPHeader: hdr})
}

func TestWSFrames(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, addr := startWS(t, Options{MaxMessageSize: 4096})
	c, _, err := dial(t, ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "sip" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	// Text and binary frames both carry SIP; a ping with payload is
	// answered (coder's Ping waits for the matching pong).
	for i, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
		if err := c.Write(ctx, typ, options("f"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
		_, data, err := c.Read(ctx)
		if err != nil || !strings.HasPrefix(string(data), "SIP/2.0 200") {
			t.Fatalf("frame type %v: %q %v", typ, data, err)
		}
	}
	// A ping with payload (coder's Ping sends one and waits for the
	// matching pong) is answered; CloseRead runs the reader that sees it.
	cp, _, err := dial(t, ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(cp.CloseRead(ctx), 2*time.Second)
	if err := cp.Ping(pctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	pcancel()
	cp.CloseNow()
	// CRLF keep-alive gets a CRLF pong.
	if err := c.Write(ctx, websocket.MessageText, []byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c.Read(ctx); err != nil || string(data) != "\r\n" {
		t.Fatalf("keep-alive pong %q %v", data, err)
	}
	// Not SIP: that connection only is closed.
	c2, _, err := dial(t, ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2.Write(ctx, websocket.MessageText, []byte("hello there, not sip\r\n\r\n"))
	if _, _, err := c2.Read(ctx); err == nil {
		t.Fatal("non-SIP frame did not close the connection")
	}
	if err := c.Write(ctx, websocket.MessageText, options("after")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c.Read(ctx); err != nil || !strings.HasPrefix(string(data), "SIP/2.0 200") {
		t.Fatalf("other connection hurt: %q %v", data, err)
	}
	// Oversized: refused and counted.
	c3, _, err := dial(t, ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	c3.Write(ctx, websocket.MessageText, append(options("big"), make([]byte, 5000)...))
	if _, _, err := c3.Read(ctx); err == nil {
		t.Fatal("oversized message accepted")
	}
	for deadline := time.Now().Add(3 * time.Second); m.Oversized.Load() != 1 || m.Malformed.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("oversized %d malformed %d", m.Oversized.Load(), m.Malformed.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close(websocket.StatusNormalClosure, "")
	waitGoroutines(t, before)
}

func TestWSRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, addr := startWS(t, Options{WSOrigins: []string{"good.example"}})
	if c, _, err := dial(t, ctx, addr, http.Header{"Origin": {"https://evil.example"}}); err == nil {
		c.CloseNow()
		t.Fatal("foreign Origin accepted")
	}
	c, _, err := dial(t, ctx, addr, http.Header{"Origin": {"https://good.example"}})
	if err != nil {
		t.Fatalf("allowed Origin refused: %v", err)
	}
	c.CloseNow()
	c, _, err = dial(t, ctx, addr, nil, "chat")
	if err == nil {
		if _, _, err := c.Read(ctx); err == nil {
			t.Fatal("connection without subprotocol sip kept open")
		}
	}
	if m.WSRejected.Load() < 2 {
		t.Errorf("rejected %d, want 2", m.WSRejected.Load())
	}
}

func TestWSIdleTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, addr := startWS(t, Options{WSIdleTimeout: 300 * time.Millisecond})
	c, _, err := dial(t, ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("read succeeded on idle connection")
	}
	if m.WSIdleClosed.Load() != 1 {
		t.Errorf("idle closed %d", m.WSIdleClosed.Load())
	}
}

func TestMalformedUDPGets400(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var m *Manager
	ua, _ := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log),
		sip.WithTransportLayerReadFilter(func(i sip.TransportReadProps, d []byte) ([]byte, error) { return m.ReadFilter()(i, d) })))
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	m = New(log, ua, srv, Options{MaxMessageSize: 2000})
	if err := m.Start(context.Background(), []config.Listen{{Proto: "udp", IP: "127.0.0.1", Port: 0}}); err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close(); ua.Close() }()
	conn, err := net.Dial("udp", m.Sockets()[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bad := "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:bob@127.0.0.1>\r\nCall-ID: bad1\r\nCSeq: 1 INVITE\r\nthis line has no colon\r\n\r\n"
	conn.Write([]byte(bad))
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2000)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400") {
		t.Fatalf("reply %q %v", buf[:n], err)
	}
	// Oversized and unaddressable garbage: counted drops, listener alive.
	conn.Write([]byte(strings.Repeat("A", 3000)))
	conn.Write([]byte("garbage"))
	deadline := time.Now().Add(3 * time.Second)
	for m.Oversized.Load() != 1 || m.Malformed.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("oversized %d malformed %d", m.Oversized.Load(), m.Malformed.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Write([]byte(bad))
	if n, err := conn.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400") {
		t.Fatalf("listener dead after bad input: %v", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{string(options("x")), true},
		{"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", true},
		{"INVITE sip:a@b SIP/2.0\r\nVia x\r\n\r\n", false},
		{"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n", false},
		{"INVITE  SIP/2.0\r\n\r\n", false},
		{"SIP/2.0 2x0 OK\r\n\r\n", false},
	} {
		if got := Check([]byte(tc.in)) == nil; got != tc.ok {
			t.Errorf("Check(%q) ok=%v want %v", tc.in, got, tc.ok)
		}
	}
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+40 {
		if time.Now().After(deadline) {
			t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWSQuickDisconnects: clients that leave right after the upgrade (a
// browser reconnecting while the proxy shuts down, a probe) end their
// bridge without sipgo's side failing its half of the upgrade: the bridge
// closes the pipe only once sipgo has finished with it.
func TestWSQuickDisconnects(t *testing.T) {
	var logs logbuf.Buffer
	_, addr := startWSLog(t, Options{}, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 200; i++ {
		c, _, err := dial(t, ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.CloseNow()
	}
	time.Sleep(200 * time.Millisecond)
	if n := strings.Count(logs.String(), "Fail to upgrade"); n > 0 {
		t.Errorf("sipgo failed %d upgrades of 200 bridged connections:\n%s", n, logs.String())
	}
}

// TestWSShutdownWhileConnecting: clients keep connecting (as JsSIP does
// when its WebSocket closes) while the manager shuts down: every bridge
// ends, nothing logs a failed upgrade, and Close returns.
func TestWSShutdownWhileConnecting(t *testing.T) {
	var logs logbuf.Buffer
	m, addr := startWSLog(t, Options{}, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var connected atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, _, err := dial(t, ctx, addr, nil)
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) || strings.Contains(err.Error(), "refused") {
						return // the listener is gone
					}
					continue // upgraded and closed at once: try again
				}
				connected.Add(1)
				go func() { _, _, _ = c.Read(ctx); c.CloseNow() }()
			}
		}()
	}
	for connected.Load() < 50 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- m.Close() }()
	select {
	case <-done:
		t.Logf("Close took %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	cancel()
	wg.Wait()
	if n := strings.Count(logs.String(), "Fail to upgrade"); n > 0 {
		t.Errorf("sipgo failed %d upgrades during shutdown:\n%s", n, logs.String())
	}
}
