package natping

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto/testport"
	"sipmedia/sipproxy/internal/registrar"
)

// udpSender sends from one real socket, whatever listener is named, and
// records the names.
type udpSender struct {
	c       *net.UDPConn
	sockets []string
}

func (s *udpSender) WriteUDP(socket string, to netip.AddrPort, b []byte) error {
	s.sockets = append(s.sockets, socket)
	_, err := s.c.WriteToUDPAddrPort(b, to)
	return err
}

// read returns the next datagram on c, or nil after wait.
func read(t *testing.T, c *net.UDPConn, wait time.Duration) []byte {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

type fixture struct {
	p     *Pinger
	store *registrar.MemStore
	send  *udpSender
	now   time.Time
}

func newFixture(t *testing.T, s Settings) *fixture {
	t.Helper()
	f := &fixture{store: registrar.NewMemStore(), send: &udpSender{c: testport.UDP(t)}, now: time.Unix(1_700_000_000, 0)}
	p, err := New(s, "sip:pinger@example.com", f.store, f.send, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return f.now }
	f.p = p
	return f
}

// register adds or rewrites the binding of aor received from phone's
// address over proto, as a REGISTER does.
func (f *fixture) register(t *testing.T, aor, proto string, phone *net.UDPConn) {
	t.Helper()
	b := registrar.Binding{AOR: aor, Contact: "sip:" + aor + "@10.0.0.9:5060", Q: -1,
		Expires: f.now.Add(time.Hour), Socket: proto + ":127.0.0.1:5060", Updated: f.now}
	if phone != nil {
		b.Received = "sip:" + phone.LocalAddr().String()
	}
	f.put(t, b)
}

func (f *fixture) put(t *testing.T, b registrar.Binding) {
	t.Helper()
	if _, err := f.store.Update(context.Background(), b.AOR, f.now, func(bs []registrar.Binding) ([]registrar.Binding, error) {
		keep := bs[:0]
		for _, x := range bs {
			if x.Contact != b.Contact {
				keep = append(keep, x)
			}
		}
		return append(keep, b), nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) round(slot, slots int) { f.p.round(context.Background(), slot, slots) }

// TestKeepalive: a UDP contact gets nathelper's four zero bytes at its
// received address, from the listener it registered on; a TCP contact
// and one whose address is a name get nothing.
func TestKeepalive(t *testing.T) {
	f := newFixture(t, Settings{Interval: time.Second})
	phone, tcpPhone := testport.UDP(t), testport.UDP(t)
	f.register(t, "alice", "udp", phone)
	f.register(t, "bob", "tcp", tcpPhone)
	f.put(t, registrar.Binding{AOR: "carol", Contact: "sip:carol@phone.example.com", Expires: f.now.Add(time.Hour),
		Socket: "udp:127.0.0.1:5060", Updated: f.now})
	f.round(0, 1)
	if got := read(t, phone, 2*time.Second); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Fatalf("alice got %q, want four zero bytes", got)
	}
	if got := read(t, tcpPhone, 200*time.Millisecond); got != nil {
		t.Fatalf("TCP contact pinged: %q", got)
	}
	if f.p.Sent.Load() != 1 || len(f.send.sockets) != 1 || f.send.sockets[0] != "udp:127.0.0.1:5060" {
		t.Fatalf("sent %d from %v, want 1 from udp:127.0.0.1:5060", f.p.Sent.Load(), f.send.sockets)
	}
}

// TestOptions: with sipping the contact gets an OPTIONS a SIP stack
// parses (Request-URI and To the contact, From sipping_from with a tag,
// our listener in the Via); its reply, of any status, is taken once.
func TestOptions(t *testing.T) {
	f := newFixture(t, Settings{Interval: time.Second, SIPPing: true})
	phone := testport.UDP(t)
	f.register(t, "alice", "udp", phone)
	f.round(0, 1)
	raw := read(t, phone, 2*time.Second)
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		t.Fatalf("OPTIONS does not parse: %v\n%s", err, raw)
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.Method != sip.OPTIONS {
		t.Fatalf("want OPTIONS, got\n%s", raw)
	}
	checks := []struct{ what, got, want string }{
		{"Request-URI", req.Recipient.String(), "sip:alice@10.0.0.9:5060"},
		{"To", req.To().Address.String(), "sip:alice@10.0.0.9:5060"},
		{"From", req.From().Address.String(), "sip:pinger@example.com"},
		{"Via", fmt.Sprintf("%s %s:%d", req.Via().Transport, req.Via().Host, req.Via().Port), "UDP 127.0.0.1:5060"},
		{"CSeq", req.CSeq().Value(), "1 OPTIONS"},
		{"Max-Forwards", req.MaxForwards().Value(), "70"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if tag, _ := req.From().Params.Get("tag"); tag == "" {
		t.Error("From has no tag")
	}
	res := sip.NewResponseFromRequest(req, 404, "Not Found", nil)
	if !f.p.Response(res) {
		t.Fatal("the reply to our OPTIONS was not taken")
	}
	if f.p.Response(res) {
		t.Fatal("a retransmitted reply was taken twice")
	}
	other := sip.NewResponseFromRequest(req, 200, "OK", nil)
	other.Via().Params.Add("branch", "z9hG4bK-relayed")
	if f.p.Response(other) {
		t.Fatal("a reply to somebody else's OPTIONS was taken")
	}
	if f.p.Answered.Load() != 1 {
		t.Fatalf("answered %d, want 1", f.p.Answered.Load())
	}
}

// TestTimeout: a contact silent for longer than the timeout is removed;
// one that answered, or registered again, within it stays.
func TestTimeout(t *testing.T) {
	f := newFixture(t, Settings{Interval: time.Second, SIPPing: true, Timeout: 3 * time.Second})
	phones := map[string]*net.UDPConn{"silent": testport.UDP(t), "answers": testport.UDP(t), "registers": testport.UDP(t)}
	for aor, c := range phones {
		f.register(t, aor, "udp", c)
	}
	for i := 0; i < 5; i++ {
		f.now = f.now.Add(time.Second)
		f.round(0, 1)
		for aor, c := range phones {
			raw := read(t, c, time.Second)
			if raw == nil {
				continue
			}
			msg, err := sip.ParseMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if req, ok := msg.(*sip.Request); ok && aor == "answers" {
				f.p.Response(sip.NewResponseFromRequest(req, 200, "OK", nil))
			}
		}
		if i == 1 {
			f.register(t, "registers", "udp", phones["registers"])
		}
	}
	all, _ := f.store.All(context.Background(), f.now)
	var left []string
	for _, b := range all {
		left = append(left, b.AOR)
	}
	if fmt.Sprint(left) != "[answers registers]" || f.p.Removed.Load() != 1 {
		t.Fatalf("left %v, removed %d; want [answers registers], 1", left, f.p.Removed.Load())
	}
}

// TestSlots: over one interval's rounds every contact is pinged once.
func TestSlots(t *testing.T) {
	f := newFixture(t, Settings{Interval: 10 * time.Second})
	phone := testport.UDP(t)
	for i := 0; i < 40; i++ {
		f.register(t, fmt.Sprintf("u%02d", i), "udp", phone)
	}
	busiest := 0
	for slot := 0; slot < 10; slot++ {
		before := f.p.Sent.Load()
		f.round(slot, 10)
		busiest = max(busiest, int(f.p.Sent.Load()-before))
	}
	if f.p.Sent.Load() != 40 || busiest > 12 {
		t.Fatalf("sent %d (want 40), busiest slot %d (want the 40 spread)", f.p.Sent.Load(), busiest)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		s  Settings
		ok bool
	}{
		{Settings{}, true},
		{Settings{Interval: 30 * time.Second}, true},
		{Settings{Interval: 30 * time.Second, SIPPing: true, Timeout: 90 * time.Second}, true},
		{Settings{Interval: -time.Second}, false},
		{Settings{Interval: 30 * time.Second, Timeout: 90 * time.Second}, false},
		{Settings{SIPPing: true, Timeout: 90 * time.Second}, false},
		{Settings{Interval: 30 * time.Second, SIPPing: true, Timeout: 40 * time.Second}, false},
		{Settings{Interval: 30 * time.Second, SIPPing: true, From: "not a uri"}, false},
	} {
		if err := c.s.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: error %v, want ok=%v", c.s, err, c.ok)
		}
	}
}
