package rtpproxy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/ports"
)

func newServer(t testing.TB) *Server {
	t.Helper()
	alloc, err := ports.New(44500, 44599, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := call.NewRegistry(call.Config{
		Interfaces: []call.Interface{{Name: "default", Address: netip.MustParseAddr("127.0.0.1")}},
	}, alloc, nil)
	t.Cleanup(reg.Close)
	s := &Server{Reg: reg, SilentTimeout: time.Hour}
	t.Cleanup(s.Close)
	return s
}

func TestServerCommands(t *testing.T) {
	s := newServer(t)
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	do := func(line string) string { return string(s.Handle([]byte(line), from)) }

	r := do("c1 U call1 127.0.0.1 4000 a;1")
	f := strings.Fields(r)
	if len(f) != 4 || f[0] != "c1" || f[2] != "127.0.0.1" || f[3] != "4" {
		t.Fatalf("offer: %q", r)
	}
	// A retransmission gets the cached reply, even if the line changed.
	if got := do("c1 U call1 127.0.0.1 4002 a;1"); got != r {
		t.Errorf("retransmission: %q, want %q", got, r)
	}
	if got := do("c2 L call1 127.0.0.1 5000 a;1 b;1"); !strings.HasPrefix(got, "c2 ") || strings.Fields(got)[1] == f[1] {
		t.Errorf("answer: %q (offer gave port %s)", got, f[1])
	}
	// Hold: the ports stay, the address is the zero one (as rtpengine's).
	if got := do("c3 U call1 0.0.0.0 4000 a;1 b;1"); got != "c3 "+f[1]+" 0.0.0.0 4\n" {
		t.Errorf("hold: %q, want port %s", got, f[1])
	}
	for _, tc := range [][2]string{ // in order: c8 deletes the call
		{"c4 U call1 127.0.0.1 4000 a;33 b;33", "c4 E8\n"}, // index out of range
		{"c5 U call2 1.2.3.999 4000 a;1", "c5 E8\n"},
		{"c6 L nosuch 127.0.0.1 4000 a;1 b;1", "c6 0 0.0.0.0\n"},
		{"c7 Q nosuch a", "c7 E8\n"},
		{"c7b Q call1 a b", "c7b 3600 0 0 0 0\n"},
		{"c8 D call1 a b", "c8 0\n"},
		{"c9 D call1 a b", "c9 E8\n"},
		{"c10 X", "c10 E8\n"},
	} {
		if got := do(tc[0]); got != tc[1] {
			t.Errorf("%q: %q, want %q", tc[0], got, tc[1])
		}
	}
	if got := do(""); got != "" {
		t.Errorf("empty line answered %q", got)
	}
	// V is not cached: the same cookie asks again.
	if got := do("v VF 20040107"); got != "v 1\n" {
		t.Errorf("VF: %q", got)
	}
	if got := do("v V"); got != "v 20040107\n" {
		t.Errorf("V after VF with the same cookie: %q", got)
	}
	if n := s.Reg.Len(); n != 0 {
		t.Errorf("%d calls left (a refused offer must not leave one)", n)
	}
}

// TestServerSocket runs Serve on a socket: replies go back to the sender,
// a datagram of the maximum size is refused without harm, and the loop
// ends with its context.
func TestServerSocket(t *testing.T) {
	s := newServer(t)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	c, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := "x U " + strings.Repeat("c", 65000) + " 127.0.0.1 4000 a;1"
	for _, line := range []string{big, "c1 V"} {
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	var got []string
	for range 2 {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if len(got) != 2 || got[1] != "c1 20040107\n" || !strings.HasPrefix(got[0], "x ") {
		t.Errorf("replies %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not end with its context")
	}
}

// FuzzHandle: any datagram gets no reply or one line starting with its
// cookie, and what a fuzzed sequence of commands leaves is deleted with
// the calls (no port stays allocated).
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		"c1 U call1 127.0.0.1 4000 a;1", "c2 L call1 127.0.0.1 5000 a;1 b;1", "c3 U call1 0.0.0.0 4000 a;2 b;2",
		"c4 D call1 a b", "c5 Q call1 a", "c6 V", "c7 U x 127.0.0.1 4000", "c8 U c ::1 0 t;32",
	} {
		f.Add([]byte(s))
	}
	s := newServer(f)
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	f.Fuzz(func(t *testing.T, b []byte) {
		r := s.Handle(b, from)
		if r == nil {
			return
		}
		// The cookie ends at the grammar's first blank.
		cookie := string(b)
		if i := strings.IndexAny(cookie, "\t\n\v\f\r "); i >= 0 {
			cookie = cookie[:i]
		}
		if !strings.HasPrefix(string(r), cookie) || !strings.HasSuffix(string(r), "\n") || strings.Count(string(r), "\n") != 1 {
			t.Fatalf("%q: reply %q", b, r)
		}
		if s.Reg.Len() > 50 {
			s.Reg.TerminateAll()
		}
		if s.Reg.Len() == 0 && s.Reg.PortsInUse() != 0 {
			t.Fatalf("%d ports in use without a call", s.Reg.PortsInUse())
		}
	})
}
