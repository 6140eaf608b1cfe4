package ngproto

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestClientTurnsUnderChurn: callers take turns reading the socket, so a
// caller that leaves (cancelled, or done with its own reply) must never
// leave the others' replies unread. With a single try of 2 s, a reply
// nobody picked up is an ErrTimeout, which fails the test; the replies
// come back out of order (random handler delays, concurrent loops).
func TestClientTurnsUnderChurn(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{MaxConcurrent: 8, Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return Dict{"result": "ok", "call-id": req.Str("call-id")}
	})}
	conn := startServer(t, srv, "127.0.0.1:0")
	c, err := Dial(conn.LocalAddr().String(), ClientConfig{Retries: 1, Interval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 24; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				ctx, cancel := context.WithCancel(testCtx(t))
				if g%4 == 0 && i%3 == 0 {
					// cancelled while it may hold the turn to read
					time.AfterFunc(time.Duration(rand.IntN(1500))*time.Microsecond, cancel)
				}
				r, err := c.Do(ctx, Dict{"command": "offer", "call-id": id})
				cancel()
				switch {
				case err == context.Canceled:
				case err != nil:
					errs <- fmt.Errorf("%s: %w", id, err)
				case r.Str("call-id") != id:
					errs <- fmt.Errorf("%s: reply for %q", id, r.Str("call-id"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestClientTurnsFastReplies: many short requests from a few callers, the
// case where a reply is often delivered to a caller just before it takes
// the turn to read (it must not then wait on the socket for a reply it
// already has: with one try that is an ErrTimeout).
func TestClientTurnsFastReplies(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: echoHandler("a")}
	conn := startServer(t, srv, "127.0.0.1:0")
	c, err := Dial(conn.LocalAddr().String(), ClientConfig{Retries: 1, Interval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Widen the window between looking for the reply and taking the turn.
	c.beforeTurn = func() { time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) }
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if err := c.Ping(testCtx(t)); err != nil {
					errs <- fmt.Errorf("caller %d request %d: %w", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
