package ice

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"sipmedia/ngproto/testport"
)

type side struct {
	conn  *net.UDPConn
	agent *Agent
	creds Credentials
	sel   chan netip.AddrPort
}

func (s *side) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *side) cand() Candidate {
	return Candidate{Foundation: "f", Component: 1, Transport: "UDP", Priority: HostPriority(0, 1), Addr: s.addr(), Type: TypeHost}
}

// newSide starts an agent on a loopback socket with a read loop; cleanup
// stops both.
func newSide(t *testing.T, controlling bool, mod func(*Config)) *side {
	t.Helper()
	c := testport.UDP(t)
	creds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	s := &side{conn: c, creds: creds, sel: make(chan netip.AddrPort, 8)}
	cfg := Config{Local: creds, Controlling: controlling, Writer: c, CheckInterval: 10 * time.Millisecond,
		OnSelected: func(a netip.AddrPort) { s.sel <- a }}
	if mod != nil {
		mod(&cfg)
	}
	s.agent, err = NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.agent.Run(ctx) }()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_ = s.agent.HandleSTUN(buf[:n], from)
		}
	}()
	t.Cleanup(func() { cancel(); c.Close(); wg.Wait() })
	return s
}

func waitSel(t *testing.T, s *side, want netip.AddrPort) {
	t.Helper()
	select {
	case got := <-s.sel:
		if got != want {
			t.Fatalf("selected %v, want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no selection (stats %+v)", s.agent.Stats())
	}
}

func connect(a, b *side) {
	a.agent.SetRemote(b.creds, []Candidate{b.cand()})
	b.agent.SetRemote(a.creds, []Candidate{a.cand()})
}

func TestAgentsSelect(t *testing.T) {
	a, b := newSide(t, true, nil), newSide(t, false, nil)
	connect(a, b)
	waitSel(t, a, b.addr())
	waitSel(t, b, a.addr())
	if got, ok := b.agent.Selected(); !ok || got != a.addr() {
		t.Fatalf("controlled Selected %v %v", got, ok)
	}
}

// TestLiteAgent: an ICE-lite agent (told to control, and facing a full
// peer that starts controlled) stays controlled, makes the peer control
// by answering its controlled check with 487, sends no check of its own
// and takes the peer's nomination.
func TestLiteAgent(t *testing.T) {
	full := newSide(t, false, nil)
	lite := newSide(t, true, func(c *Config) { c.Lite = true })
	connect(full, lite)
	waitSel(t, full, lite.addr())
	waitSel(t, lite, full.addr())
	if lite.agent.Controlling() || !full.agent.Controlling() {
		t.Fatalf("controlling: lite %v, full %v; want false, true", lite.agent.Controlling(), full.agent.Controlling())
	}
	if n := full.agent.Stats().Requests; n != 0 {
		t.Fatalf("the lite agent sent %d checks", n)
	}
	if lite.agent.Stats().Requests == 0 || lite.agent.Stats().RoleConflicts == 0 {
		t.Fatalf("lite agent stats %+v: want the peer's checks and a role conflict", lite.agent.Stats())
	}
	// Switched back to a full agent, it checks and takes its role again.
	lite.agent.SetLite(false)
	lite.agent.SetControlling(true)
	if !lite.agent.Controlling() {
		t.Fatal("not controlling after SetLite(false)")
	}
}

func TestRoleConflictResolves(t *testing.T) {
	a, b := newSide(t, true, nil), newSide(t, true, nil)
	connect(a, b)
	waitSel(t, a, b.addr())
	waitSel(t, b, a.addr())
	if a.agent.Controlling() == b.agent.Controlling() {
		t.Fatalf("both controlling=%v after conflict", a.agent.Controlling())
	}
	if a.agent.Stats().RoleConflicts+b.agent.Stats().RoleConflicts == 0 {
		t.Fatal("no conflict counted")
	}
}

// TestRoleConflictCrossing: our check (sent controlling) and the peer's
// (controlling, with the larger tie-breaker) cross. The peer's request
// switches us to controlled; its 487 to our earlier check then must leave
// us there (RFC 8445 §7.2.5.1), not toggle us back to controlling.
func TestRoleConflictCrossing(t *testing.T) {
	a := newSide(t, true, nil)
	peer := testport.UDP(t)
	peerCreds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	a.agent.SetRemote(peerCreds, []Candidate{{Foundation: "p", Component: 1, Transport: "UDP",
		Priority: HostPriority(0, 1), Addr: peerAddr, Type: TypeHost}})

	// Our first check, sent as controlling.
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatalf("no check from the agent: %v", err)
	}
	check := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
	if err := check.Decode(); err != nil || !check.Contains(stun.AttrICEControlling) {
		t.Fatalf("first check %v (err %v): want a request with ICE-CONTROLLING", check, err)
	}

	// The peer's own check, controlling with the largest tie-breaker.
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(a.creds.Ufrag+":"+peerCreds.Ufrag),
		rawAttr{stun.AttrPriority, be32(PrflxPriority(1))},
		rawAttr{stun.AttrICEControlling, be64(^uint64(0))},
		stun.NewShortTermIntegrity(a.creds.Pwd), stun.Fingerprint)
	if err := a.agent.HandleSTUN(req.Raw, peerAddr); err != nil {
		t.Fatalf("peer's request: %v", err)
	}
	if a.agent.Controlling() {
		t.Fatal("still controlling after a controlling request with a larger tie-breaker")
	}

	// Then the peer's 487 to our first check.
	resp := stun.MustBuild(stun.NewTransactionIDSetter(check.TransactionID),
		stun.NewType(stun.MethodBinding, stun.ClassErrorResponse),
		stun.ErrorCodeAttribute{Code: stun.CodeRoleConflict, Reason: []byte("Role Conflict")},
		stun.NewShortTermIntegrity(peerCreds.Pwd), stun.Fingerprint)
	if err := a.agent.HandleSTUN(resp.Raw, peerAddr); err != nil {
		t.Fatalf("487 response: %v", err)
	}
	if a.agent.Controlling() {
		t.Fatal("the 487 to a check sent as controlling switched the agent back to controlling")
	}
}

func TestWrongCredentialsDropped(t *testing.T) {
	a := newSide(t, false, nil)
	attacker := testport.UDP(t)
	for _, m := range []*stun.Message{
		stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername(a.creds.Ufrag+":x"),
			stun.NewShortTermIntegrity("wrong-password-wrong-pwd"), stun.Fingerprint),
		stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername("nope:x"),
			stun.NewShortTermIntegrity(a.creds.Pwd), stun.Fingerprint),
		stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint),
	} {
		err := a.agent.HandleSTUN(m.Raw, attacker.LocalAddr().(*net.UDPAddr).AddrPort())
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("err %v, want ErrAuth", err)
		}
	}
	if got := a.agent.Stats().BadAuth; got != 3 {
		t.Fatalf("BadAuth %d", got)
	}
	if _, ok := a.agent.Selected(); ok {
		t.Fatal("unauthenticated peer became selected")
	}
	_ = attacker.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := attacker.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatal("agent answered a request with bad credentials")
	}
}

func TestConsentLostAndRestart(t *testing.T) {
	short := func(c *Config) { c.ConsentInterval, c.ConsentTimeout = 50*time.Millisecond, 300*time.Millisecond }
	a, b := newSide(t, true, short), newSide(t, false, short)
	connect(a, b)
	waitSel(t, a, b.addr())
	waitSel(t, b, a.addr())

	// b restarts with new credentials; a learns them by a new answer.
	newCreds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.agent.Restart(newCreds)
	b.creds = newCreds
	a.agent.SetRemote(newCreds, []Candidate{b.cand()})
	b.agent.SetRemote(a.creds, nil)
	waitSel(t, a, b.addr())
	waitSel(t, b, a.addr())

	// b goes silent: a must lose consent.
	b.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for a.agent.Nominated() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a.agent.Nominated() {
		t.Fatal("consent not lost after peer went silent")
	}
	if _, ok := a.agent.Selected(); ok {
		t.Fatal("Selected still reports a peer without consent")
	}
	if a.agent.Stats().ConsentLost != 1 {
		t.Fatalf("ConsentLost %d", a.agent.Stats().ConsentLost)
	}
}

func FuzzHandleSTUN(f *testing.F) {
	creds := Credentials{Ufrag: "abcdEFGH", Pwd: "0123456789abcdefghijklmnop"}
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername("abcdEFGH:peer"),
		stun.NewShortTermIntegrity(creds.Pwd), stun.Fingerprint).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingSuccess, stun.Fingerprint).Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Odd lengths drive an ICE-lite agent.
		a, err := NewAgent(Config{Local: creds, Writer: discard{}, Lite: len(b)%2 == 1})
		if err != nil {
			t.Fatal(err)
		}
		a.SetRemote(Credentials{Ufrag: "peer", Pwd: "peerpeerpeerpeerpeerpeer"}, nil)
		_ = a.HandleSTUN(b, netip.MustParseAddrPort("127.0.0.1:9"))
		a.tick(time.Now())
	})
}

type discard struct{}

func (discard) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }

// TestSoftwareAttribute: with Config.Software the agent's checks and its
// answers carry it as SOFTWARE (rtpengine's --software-id).
func TestSoftwareAttribute(t *testing.T) {
	a := newSide(t, true, func(c *Config) { c.Software = "edge-7" })
	peer := testport.UDP(t)
	peerCreds, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	paddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	a.agent.SetRemote(peerCreds, []Candidate{{Foundation: "f", Component: 1, Transport: "UDP",
		Priority: HostPriority(0, 1), Addr: paddr, Type: TypeHost}})
	software := func(what string, b []byte) {
		t.Helper()
		m := &stun.Message{Raw: append([]byte(nil), b...)}
		if err := m.Decode(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var sw stun.Software
		if err := sw.GetFrom(m); err != nil || sw.String() != "edge-7" {
			t.Errorf("%s: SOFTWARE %q (%v)", what, sw.String(), err)
		}
	}
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	software("check", buf[:n])
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(a.creds.Ufrag+":"+peerCreds.Ufrag),
		rawAttr{stun.AttrPriority, be32(PrflxPriority(1))}, rawAttr{stun.AttrICEControlled, be64(1)},
		stun.NewShortTermIntegrity(a.creds.Pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteToUDPAddrPort(req.Raw, a.addr()); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatal("no answer to the peer's check")
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.Type == stun.BindingSuccess && m.TransactionID == req.TransactionID {
			software("answer", buf[:n])
			return
		}
	}
}
