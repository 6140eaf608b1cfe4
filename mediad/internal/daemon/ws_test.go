package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"sipmedia/ngproto"
)

// TestWebSocketBadInput: WebSocket clients that break the protocol, send
// garbage or oversized messages, or ask for no known subprotocol are
// refused or cut off with a clear status; many NG requests in flight on
// one connection are all answered; nothing is left behind at shutdown.
func TestWebSocketBadInput(t *testing.T) {
	r := startRun(t, nil, Options{}, "--config-file=none", "-t", "-1", "-i", "127.0.0.1",
		"--listen-http=127.0.0.1:0", "-m", "43200", "-M", "43299")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := r.HTTP[0]
	url := "ws://" + addr + "/"
	hc := &http.Client{Transport: &http.Transport{}}
	dial := func() *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wsNG}, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// No known subprotocol: a 400 that says which.
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"sip"}, HTTPClient: hc})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("subprotocol sip: %v %v", resp, err)
	}

	// A frame the client did not mask is a protocol error: the connection
	// is closed.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(raw, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n", addr, wsNG)
	br := bufio.NewReader(raw)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade: %q", status)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	if _, err := raw.Write([]byte{0x82, 0x05, 'h', 'e', 'l', 'l', 'o'}); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("unmasked frame: the connection was not closed: %v", err)
	}
	raw.Close()

	// A message above the limit: closed with "message too big".
	c := dial()
	big := make([]byte, wsMaxMessage+1)
	_ = c.Write(ctx, websocket.MessageBinary, big)
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("oversized message: %v, want status 1009", err)
	}
	c.CloseNow()

	// Garbage is ignored; 200 requests in flight are all answered.
	c = dial()
	if err := c.Write(ctx, websocket.MessageText, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Write(ctx, websocket.MessageBinary, fmt.Appendf(nil, "k%d d7:command4:pinge", i))
		}()
	}
	seen := map[string]bool{}
	for len(seen) < n {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(seen), err)
		}
		m, err := ngproto.DecodeMessage(b)
		if err != nil || m.Body.Result() != "pong" {
			t.Fatalf("reply %q: %v", b, err)
		}
		seen[m.Cookie] = true
	}
	wg.Wait()
	c.CloseNow()

	r.stop()
	hc.CloseIdleConnections()
	r.checkGoroutines()
}
