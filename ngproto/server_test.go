package ngproto

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientServerConcurrent(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: echoHandler("a")}
	conn := startServer(t, srv, "127.0.0.1:0")
	for _, enc := range []Encoding{Bencode, JSON} {
		c, err := Dial(conn.LocalAddr().String(), ClientConfig{Encoding: enc})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("call-%d", i)
				r, err := c.Do(testCtx(t), Dict{"command": "offer", "call-id": id})
				if err != nil {
					errs <- err
					return
				}
				if r.Str("call-id") != id || r.Result() != "ok" {
					errs <- fmt.Errorf("wrong reply %v for %s", r, id)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c.Close()
	}
}

// lossyServe answers through srv.Process but drops the first drop datagrams.
func lossyServe(t *testing.T, srv *Server, drop int) (addr string, seen func() []string) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, string(buf[:n]))
			count := len(got)
			mu.Unlock()
			if count <= drop {
				continue
			}
			if reply := srv.Process(context.Background(), buf[:n], from); reply != nil {
				_, _ = conn.WriteToUDPAddrPort(reply, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return conn.LocalAddr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestClientRetransmitsSameCookie(t *testing.T) {
	checkGoroutines(t)
	var calls atomic.Int32
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		calls.Add(1)
		return OK()
	})}
	addr, seen := lossyServe(t, srv, 3)
	c, err := Dial(addr, ClientConfig{Retries: 10, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(testCtx(t), Dict{"command": "offer", "call-id": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Result() != "ok" {
		t.Fatalf("reply %v", r)
	}
	got := seen()
	// 3 dropped, the 4th answered (a slow machine may add more retries)
	if len(got) < 4 {
		t.Fatalf("server saw %d datagrams, want at least 4", len(got))
	}
	for _, g := range got {
		if g != got[0] {
			t.Fatalf("retransmission differs: %q vs %q", g, got[0])
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
}

func TestClientTimeoutAndCancel(t *testing.T) {
	checkGoroutines(t)
	addr, seen := lossyServe(t, &Server{Handler: echoHandler("x")}, 1000)
	c, err := Dial(addr, ClientConfig{Retries: 3, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do(testCtx(t), Dict{"command": "ping"})
	if !errorsIs(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	for i := 0; len(seen()) < 3 && i < 200; i++ {
		time.Sleep(10 * time.Millisecond) // the last try may still be in the socket
	}
	if n := len(seen()); n != 3 {
		t.Fatalf("%d tries, want 3", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, Dict{"command": "ping"}); !errorsIs(err, context.Canceled) {
		t.Fatalf("err %v, want Canceled", err)
	}
	c.Close()
	if _, err := c.Do(context.Background(), Dict{"command": "ping"}); !errorsIs(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

func TestServerDuplicateInFlight(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	var calls atomic.Int32
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		n := calls.Add(1)
		entered <- struct{}{}
		<-release
		return Dict{"result": "ok", "n": int64(n)}
	})}
	conn := startServer(t, srv, "127.0.0.1:0")
	a := rawSocket(t, conn.LocalAddr().String())
	b := rawSocket(t, conn.LocalAddr().String())
	msg := []byte("dup1 d7:command5:offer7:call-id1:ce")
	if _, err := a.Write(msg); err != nil {
		t.Fatal(err)
	}
	<-entered
	// the duplicate comes from another socket: the cache key is the cookie alone
	if _, err := b.Write(msg); err != nil {
		t.Fatal(err)
	}
	// give the duplicate a chance to be read and parked before releasing
	for srv.CacheLen() != 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	ra, rb := readReply(t, a), readReply(t, b)
	if ra != rb || ra != "dup1 d1:ni1e6:result2:oke" {
		t.Fatalf("replies %q / %q", ra, rb)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
}

func TestServerCacheGenerations(t *testing.T) {
	var calls atomic.Int32
	now := time.Unix(1000, 0)
	srv := &Server{CacheTTL: 30 * time.Second, now: func() time.Time { return now },
		Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
			return Dict{"result": "ok", "n": int64(calls.Add(1))}
		})}
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	do := func(cookie string) string {
		return string(srv.Process(context.Background(), []byte(cookie+" d7:command4:listee"), from))
	}
	first := do("k1")
	now = now.Add(29 * time.Second)
	if do("k1") != first {
		t.Fatal("not cached within TTL")
	}
	now = now.Add(2 * time.Second) // 31 s: rotated once, still in the old generation
	if do("k1") != first {
		t.Fatal("not cached in second generation")
	}
	now = now.Add(30 * time.Second) // 61 s: gone
	if got := do("k1"); got == first {
		t.Fatal("still cached after 2*TTL")
	}
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2", calls.Load())
	}
}

func TestServerBadInput(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		if req.Str("command") == "boom" {
			panic("handler bug")
		}
		if req.Str("command") == "nil" {
			return nil
		}
		return Pong()
	})}
	conn := startServer(t, srv, "127.0.0.1:0")
	c := rawSocket(t, conn.LocalAddr().String())
	cases := []struct{ in, want string }{
		{"c1 garbage", "c1 d6:result5:error12:error-reason22:Invalid NG data formate"},
		{"c2 d3:foo", "c2 d6:result5:error12:error-reason35:Could not decode bencode dictionarye"},
		{"c3 ", "c3 d6:result5:error12:error-reason25:Invalid data (no payload)e"},
		{`c4 {"command":`, `c4 {"error-reason":"Failed to parse JSON document","result":"error"}`},
		{"c5 d4:call1:xe", `c5 d12:error-reason36:Dictionary contains no key "command"6:result5:errore`},
		{"c6 d7:command4:boome", "c6 d12:error-reason14:Internal error6:result5:errore"},
		{"c7 d7:command3:nile", "c7 d12:error-reason14:Internal error6:result5:errore"},
		{"c8 d7:command4:pinge", "c8 d6:result4:ponge"},
	}
	for _, tc := range cases {
		// a datagram without cookie first: it must be dropped silently
		if _, err := c.Write([]byte("nocookie")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		got := readReply(t, c)
		d, _ := DecodeMessage([]byte(got))
		w, _ := DecodeMessage([]byte(tc.want))
		if cookieOf(got) != cookieOf(tc.want) || !dictEqual(d.Body, w.Body) || d.Encoding != w.Encoding {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	// hostile sizes: a string length far beyond the datagram
	if _, err := c.Write([]byte("h1 d7:command999999999999:x")); err != nil {
		t.Fatal(err)
	}
	if got := readReply(t, c); cookieOf(got) != "h1" {
		t.Fatalf("got %q", got)
	}
}

func TestServerRepliesFromLocalAddress(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct{ network, listen, dial string }{
		{"udp4", "0.0.0.0:0", "127.0.0.2"},
		{"udp", "0.0.0.0:0", "127.0.0.4"}, // Go makes this a dual-stack socket
		{"udp", "[::]:0", "127.0.0.3"},
		{"udp6", "[::]:0", "::1"},
		{"udp", "127.0.0.5:0", "127.0.0.5"},
	} {
		t.Run(tc.network+":"+tc.listen+"->"+tc.dial, func(t *testing.T) {
			conn, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.listen)))
			if err != nil {
				t.Skipf("cannot listen on %s: %v", tc.listen, err)
			}
			srv := &Server{Handler: echoHandler("w")}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, conn) }()
			defer func() { cancel(); <-done; conn.Close() }()
			port := conn.LocalAddr().(*net.UDPAddr).Port
			// a connected client socket accepts only replies from the
			// address it sent to
			c, err := Dial(net.JoinHostPort(tc.dial, fmt.Sprint(port)), ClientConfig{Retries: 3, Interval: 200 * time.Millisecond})
			if err != nil {
				t.Skipf("cannot dial %s: %v", tc.dial, err)
			}
			defer c.Close()
			if err := c.Ping(testCtx(t)); err != nil {
				t.Fatalf("ping via %s: %v", tc.dial, err)
			}
		})
	}
}

func TestProcessPlain(t *testing.T) {
	srv := &Server{Handler: echoHandler("p")}
	got := srv.ProcessPlain(context.Background(), []byte(`{"command":"ping"}`), netip.AddrPort{})
	if string(got) != `{"result":"pong"}` {
		t.Fatalf("%s", got)
	}
}

// TestServerHandlesConcurrentlyWithinLimit: requests are handled up to
// MaxConcurrent at once, and again in a later burst, when the extra loops
// of the first have parked (they must be woken, or this deadlocks).
func TestServerHandlesConcurrentlyWithinLimit(t *testing.T) {
	checkGoroutines(t)
	const limit = 4
	var inflight, peak atomic.Int32
	var full atomic.Pointer[chan struct{}]
	var once atomic.Pointer[sync.Once]
	srv := &Server{MaxConcurrent: limit, Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		ch := *full.Load()
		if n == limit {
			once.Load().Do(func() { close(ch) })
		}
		// the first requests only finish once `limit` of them run at the
		// same time: this deadlocks unless handling is concurrent
		<-ch
		return OK()
	})}
	conn := startServer(t, srv, "127.0.0.1:0")
	c, err := Dial(conn.LocalAddr().String(), ClientConfig{Retries: 1, Interval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := range 2 {
		ch := make(chan struct{})
		full.Store(&ch)
		once.Store(new(sync.Once))
		peak.Store(0)
		var wg sync.WaitGroup
		for i := 0; i < 3*limit; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Do(testCtx(t), Dict{"command": "offer", "call-id": fmt.Sprint(round, "-", i)}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if p := peak.Load(); p != limit {
			t.Fatalf("round %d: peak concurrency %d, want %d", round, p, limit)
		}
	}
}
