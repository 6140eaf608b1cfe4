package ngproto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

// runRtpengineWS starts Debian's rtpengine with its HTTP listener on
// http (WebSocket NG) and returns a function that stops it.
func runRtpengineWS(t *testing.T, http int) (stop func()) {
	t.Helper()
	_, stop = runRtpengine(t, fmt.Sprintf("--listen-http=127.0.0.1:%d", http), "-m", "45500", "-M", "45599")
	return stop
}

// TestWSClientRealRtpengine drives rtpengine's WebSocket NG (as
// Kamailio's ws:// rtpengine socket does) with WSClient: requests before
// the daemon listens wait for it, many in flight are matched by cookie, a
// call is set up and deleted, a restarted daemon is reached on a new
// connection, and a Pool takes a ws:// backend.
func TestWSClientRealRtpengine(t *testing.T) {
	port := testport.Get(t)
	url := fmt.Sprintf("ws://127.0.0.1:%d/", port)
	// CI's two cores, busy with the other packages' tests, once kept
	// rtpengine from listening for over 5 s: the tries cover 30 s.
	c, err := DialWS(url, ClientConfig{Retries: 120, Interval: 250 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := runRtpengineWS(t, port)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping while rtpengine starts: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Ping(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	// rtpengine 10.5 handles a WebSocket frame that reaches it in two
	// reads as two messages (websocket.c takes lws_is_final_fragment for
	// the frame's end, without lws_remaining_packet_payload), and answers
	// the first part under its cookie: "Invalid data (no payload)" or
	// "Invalid NG data format". That is its bug (about one run in five
	// sees it); anything else fails.
	failed := 0
	for err := range errs {
		if err != nil {
			if !strings.Contains(err.Error(), "Invalid data") && !strings.Contains(err.Error(), "Invalid NG data format") {
				t.Fatalf("concurrent ping: %v", err)
			}
			failed++
			t.Logf("concurrent ping: %v (rtpengine's split-frame bug)", err)
		}
	}
	if failed > 5 {
		t.Fatalf("%d of 50 concurrent pings failed", failed)
	}

	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\n"
	r, err := c.Do(ctx, Dict{"command": "offer", "call-id": "ws1", "from-tag": "a", "sdp": sdp})
	if err != nil || r.Result() != "ok" || !strings.HasPrefix(r.Str("sdp"), "v=0") {
		t.Fatalf("offer: %v %v", r, err)
	}
	if r, err := c.Do(ctx, Dict{"command": "delete", "call-id": "ws1"}); err != nil || r.Result() != "ok" {
		t.Fatalf("delete: %v %v", r, err)
	}

	// The daemon goes away and comes back on the same port.
	stop()
	runRtpengineWS(t, port)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after a restart: %v", err)
	}

	p, err := NewPool([]Backend{{Addr: url}}, PoolConfig{Client: ClientConfig{Retries: 3, Interval: 300 * time.Millisecond}, PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if r, err := p.Do(ctx, Dict{"command": "ping"}); err != nil || r.Result() != "pong" {
		t.Fatalf("pool over WebSocket: %v %v", r, err)
	}
}

func TestWSClientErrors(t *testing.T) {
	if _, err := DialWS("http://127.0.0.1:1/", ClientConfig{}, nil); err == nil {
		t.Error("DialWS took an http URL")
	}
	if _, err := DialAny("tcp://127.0.0.1:1", ClientConfig{}, nil); !errors.Is(err, errScheme) {
		t.Errorf("DialAny tcp://: %v", err)
	}
	// Nobody listens: the tries run out, naming the last failure.
	c, err := DialWS(fmt.Sprintf("ws://127.0.0.1:%d/", testport.Get(t)), ClientConfig{Retries: 2, Interval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(testCtx(t), Dict{"command": "ping"}); !errors.Is(err, ErrTimeout) {
		t.Errorf("no daemon: %v, want ErrTimeout", err)
	}
	c.Close()
	if _, err := c.Do(testCtx(t), Dict{"command": "ping"}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed client: %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	c2, _ := DialWS("ws://127.0.0.1:1/", ClientConfig{Retries: 5, Interval: time.Second}, nil)
	defer c2.Close()
	if _, err := c2.Do(ctx, Dict{"command": "ping"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
