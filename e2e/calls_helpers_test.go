package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

// Media port ranges of the calls tests (other e2e tests use 10000-13999
// and 20000-31999).
const (
	callsMediadA  = 14000
	callsMediadB  = 16000
	callsRtpengie = 18000
)

// callsDomain is the proxy's domain in the calls tests' AORs.
const callsDomain = "e2e.test"

// sipproxyBinary builds sipproxy from the workspace into the test's temp
// dir (or returns $SIPPROXY_BIN).
func sipproxyBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("SIPPROXY_BIN"); b != "" {
		return b
	}
	root, err := daemon.WorkspaceRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sipproxy")
	cmd := exec.Command("go", "build", "-o", out, "sipmedia/sipproxy/cmd/sipproxy")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sipproxy: %v\n%s", err, b)
	}
	return out
}

// proxy is a running sipproxy.
type proxy struct {
	UDP  netip.AddrPort
	TCP  string
	TLS  string // host:port of the tls listener (self-signed certificate)
	WS   string // host:port of the ws listener
	WSS  string // host:port of the wss listener
	Proc *daemon.Process
	spec daemon.Spec
}

// restart stops the proxy and starts it again with the same arguments
// (its registrations and in-memory call state are gone).
func (p *proxy) restart(t *testing.T) {
	t.Helper()
	p.Proc.Stop()
	p.Proc = daemon.StartTB(t, p.spec)
}

// on is the proxy's address for phones on transport tp ("", udp, tcp, tls).
func (p *proxy) on(tp string) netip.AddrPort {
	if tp == "tls" {
		return mustAddrPort(p.TLS)
	}
	return p.UDP // tcp listens on the same port
}

func hostPort(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }

// startProxy runs sipproxy on loopback (udp+tcp on one port, ws, wss)
// with the media daemons ngAddrs (each "IP:PORT[=WEIGHT]") and extra flags.
func startProxy(t *testing.T, ngAddrs []string, extra ...string) *proxy {
	t.Helper()
	sip, tls, ws, wss, mgmt := testport.Get(t), testport.Get(t), testport.Get(t), testport.Get(t), testport.Get(t)
	args := []string{"--listen=udp:" + hostPort(sip), "--listen=tcp:" + hostPort(sip), "--listen=tls:" + hostPort(tls),
		"--listen=ws:" + hostPort(ws), "--listen=wss:" + hostPort(wss), "--mgmt=" + hostPort(mgmt),
		"--log-level=debug", "--rtpengine-ping-interval=500ms", "--domain=" + callsDomain}
	for _, a := range ngAddrs {
		args = append(args, "--rtpengine-sock=udp:"+a)
	}
	args = append(args, extra...)
	spec := daemon.Spec{Name: "sipproxy", Path: sipproxyBinary(t), Args: args, Ready: daemon.TCPReady(hostPort(sip))}
	p := daemon.StartTB(t, spec)
	return &proxy{UDP: mustAddrPort(hostPort(sip)), TCP: hostPort(sip), TLS: hostPort(tls), WS: hostPort(ws), WSS: hostPort(wss), Proc: p, spec: spec}
}

// newPhone opens and registers a UDP phone at the proxy.
func newPhone(t *testing.T, px *proxy, user string, late bool) *phone.Phone {
	t.Helper()
	return registeredPhone(t, phone.Config{User: user, Proxy: px.UDP, Late: late, Domain: callsDomain})
}

// registeredPhone opens a UDP phone with cfg and registers it.
func registeredPhone(t *testing.T, cfg phone.Config) *phone.Phone {
	t.Helper()
	ph, err := phone.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ph.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := ph.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return ph
}

// ngDo sends one NG request to addr.
func ngDo(t *testing.T, addr string, req ngproto.Dict) ngproto.Dict {
	t.Helper()
	c, err := ngproto.Dial(addr, ngproto.ClientConfig{Retries: 3, Interval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(t.Context(), req)
	if err != nil {
		t.Fatalf("NG %v to %s: %v", req["command"], addr, err)
	}
	return r
}

// ngCalls lists the call-ids a daemon holds.
func ngCalls(t *testing.T, addr string) []string {
	t.Helper()
	return ngDo(t, addr, ngproto.Dict{"command": "list", "limit": int64(1000)}).List("calls")
}

// rtpTotal is the RTP packet total of a call from NG query.
func rtpTotal(q ngproto.Dict) int64 {
	n, _ := q.Sub("totals").Sub("RTP").Int("packets")
	return n
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// placeCall runs one call alice -> bob and returns both sides (callee in
// its own goroutine).
func placeCall(t *testing.T, alice, bob *phone.Phone, callee string) (*phone.Call, *phone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	ans := make(chan *phone.Call, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := bob.Answer(ctx)
		errc <- err
		ans <- c
	}()
	a, err := alice.Call(ctx, callee)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("answer: %v", err)
	}
	return a, <-ans
}

// partyFlags returns, from an NG query reply, tag's first media's flags
// and its RTP stream's flags (nil, nil if the party is not there).
func partyFlags(q ngproto.Dict, tag string) (media, rtp []string) {
	medias, _ := q.Sub("tags").Sub(tag).Get("medias")
	l, _ := medias.([]any)
	if len(l) == 0 {
		return nil, nil
	}
	m, _ := l[0].(ngproto.Dict)
	streams, _ := m.Get("streams")
	sl, _ := streams.([]any)
	if len(sl) > 0 {
		s, _ := sl[0].(ngproto.Dict)
		rtp = s.List("flags")
	}
	return m.List("flags"), rtp
}

// queryTags lists the party tags of an NG query reply.
func queryTags(q ngproto.Dict) []string {
	var out []string
	for tag := range q.Sub("tags") {
		out = append(out, tag)
	}
	return out
}
