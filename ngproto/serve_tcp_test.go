package ngproto

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStreamMessageLen(t *testing.T) {
	for in, want := range map[string]int{
		"":                          0,
		"c1":                        0,
		"c1 ":                       0,
		" d4:testi1ee":              0, // no cookie
		"c1 d7:command4:ping":       0, // dictionary not closed yet
		"c1 d7:command4:pi":         0,
		"c1 d7:command4:pinge":      20,
		"c1 d7:command4:pingec2 de": 20,
		"c1 le":                     5, // complete, though no dictionary
		`c1 {"command":"ping"}`:     0, // JSON is not framed on a stream
	} {
		if got := StreamMessageLen([]byte(in)); got != want {
			t.Errorf("StreamMessageLen(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestServeTCP: pipelined messages are answered in order, a message split
// over several writes once complete, a connection whose input is no
// message within MaxMessageSize is closed, and ServeTCP returns with no
// connection left once its context ends.
func TestServeTCP(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: echoHandler("tcp")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- srv.ServeTCP(ctx, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	read := func(want string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, len(want))
		if _, err := io.ReadFull(r, b); err != nil || string(b) != want {
			t.Fatalf("read %q (%v), want %q", b, err, want)
		}
	}
	if _, err := io.WriteString(c, "a d7:command4:pingeb d7:command4:pinge"); err != nil {
		t.Fatal(err)
	}
	read("a d6:result4:ponge")
	read("b d6:result4:ponge")
	for _, part := range []string{"c d7:comm", "and5:quer", "y7:call-id1:xe"} {
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	read("c d7:call-id1:x7:command5:query6:result2:ok6:server3:tcpe")

	bad, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, _ = bad.Write([]byte("x " + strings.Repeat("d", MaxMessageSize+1)))
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := bad.Read(make([]byte, 16)); err == nil {
		t.Errorf("oversized input: read %d bytes, want the connection closed", n)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeTCP: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTCP did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after ServeTCP returned")
	}
}

// FuzzStreamMessageLen: the framing of NG over TCP never reads past its
// input, and what it frames is a whole message on its own.
func FuzzStreamMessageLen(f *testing.F) {
	for _, s := range []string{"c1 d7:command4:pinge", "c1 d7:command4:pingec2 de", "c1 d3:abci-5e", "x ld", "c 4:spam", "a b c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := StreamMessageLen(b)
		if n == 0 {
			return
		}
		if n > len(b) || StreamMessageLen(b[:n]) != n {
			t.Fatalf("StreamMessageLen(%q) = %d, not a whole message", b, n)
		}
		_, _ = DecodeMessage(b[:n]) // must not panic
	})
}
