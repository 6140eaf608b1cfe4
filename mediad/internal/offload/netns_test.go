package offload_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sipmedia/kmod/nettopo"
	"sipmedia/ngproto"
	"sipmedia/ngproto/logbuf"
)

// The acceptance test: the real mediad binary in R of an A - R - B
// namespace topology, a call set up over NG, RTP between A and B, and proof
// that the kernel carries it (B gets every packet from R's relay port while
// mediad's relay and R's UDP sockets see none of them), that delete stops
// it, and that the table goes with SIGTERM and with kill -9 plus a restart.

const (
	table   = 5
	ngAddr  = "127.0.0.1:2223" // inside R
	cliAddr = "127.0.0.1:9900" // inside R
)

var (
	peerA = netip.AddrPortFrom(nettopo.AddrA, 5000)
	peerB = netip.AddrPortFrom(nettopo.AddrB, 6000)
)

func TestKernelBypassNetns(t *testing.T) {
	t.Parallel()
	if why := nettopo.CanRun(); why != "" {
		t.Skip("kernel path test skipped: ", why)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("kernel path test skipped: nft(8) not installed: ", err)
	}
	bin := buildMediad(t)
	topo, err := nettopo.New()
	if err != nil {
		t.Skip("kernel path test skipped: cannot build the A-R-B namespaces: ", err)
	}
	t.Cleanup(func() { topo.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	a, err := nettopo.ListenUDP(topo.A, peerA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := nettopo.ListenUDP(topo.B, peerB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// First instance: the bypass, delete, SIGTERM.
	d := startMediad(t, bin, topo)
	ng := d.ng
	relayA, relayB := setupCall(ctx, t, ng, "call-1")
	waitKernelized(ctx, t, ng, "call-1", a, b, relayA, relayB)

	user0 := cliTotal(t, topo, "Total relayed packets (userspace)")
	in0, err := nettopo.UDPInDatagrams(topo.R)
	if err != nil {
		t.Fatal(err)
	}
	k0 := cliTotal(t, topo, "Total relayed packets (kernel)")
	const n = 200
	gotB := exchange(t, a, relayA, b, relayB, n)
	in1, err := nettopo.UDPInDatagrams(topo.R)
	if err != nil {
		t.Fatal(err)
	}
	if gotB != n {
		t.Errorf("B received %d of %d packets from %s", gotB, n, relayB)
	}
	if in1 != in0 {
		t.Errorf("R's UDP InDatagrams rose by %d while %d packets were relayed: not bypassed", in1-in0, 2*n)
	}
	time.Sleep(1200 * time.Millisecond) // one registry tick reads the kernel counters
	user1 := cliTotal(t, topo, "Total relayed packets (userspace)")
	k1 := cliTotal(t, topo, "Total relayed packets (kernel)")
	if user1 != user0 {
		t.Errorf("mediad's relay read %d packets of a kernelized call", user1-user0)
	}
	if k1-k0 < 2*n {
		t.Errorf("kernel counters rose by %d, want >= %d", k1-k0, 2*n)
	}
	// Steady 50 pps each way: list totals shows the kernel's rate.
	for i := range 125 {
		a.WriteToUDPAddrPort(rtp(uint16(20000+i)), relayA)
		b.WriteToUDPAddrPort(rtp(uint16(20000+i)), relayB)
		time.Sleep(20 * time.Millisecond)
	}
	if rate := cliTotal(t, topo, "Packets per second (kernel)"); rate < 50 || rate > 150 {
		t.Errorf("list totals: %d kernel packets per second, want about 100", rate)
	}
	drain(a)
	drain(b)
	q := query(ctx, t, ng, "call-1")
	if !hasFlag(q, "kernelized") {
		t.Errorf("query does not show a kernelized stream: %v", q)
	}
	if p := streamPackets(q); p < 2*n {
		t.Errorf("query counts %d packets, want the kernel's >= %d included", p, 2*n)
	}
	t.Logf("bypass: B got %d/%d, R UDP InDatagrams +%d, relay reads +%d, kernel packets +%d",
		gotB, n, in1-in0, user1-user0, k1-k0)

	// RTCP on its own port is a second flow.
	a1, err := nettopo.ListenUDP(topo.A, netip.AddrPortFrom(peerA.Addr(), peerA.Port()+1))
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	b1, err := nettopo.ListenUDP(topo.B, netip.AddrPortFrom(peerB.Addr(), peerB.Port()+1))
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	rtcpA := netip.AddrPortFrom(relayA.Addr(), relayA.Port()+1)
	rtcpB := netip.AddrPortFrom(relayB.Addr(), relayB.Port()+1)
	for i := 0; cliTotal(t, topo, "Kernel-only media streams") < 4; i++ {
		if i == 100 {
			t.Fatalf("RTCP not kernelized: %d kernel streams", cliTotal(t, topo, "Kernel-only media streams"))
		}
		a1.WriteToUDPAddrPort(rtcp(uint16(i)), rtcpA)
		b1.WriteToUDPAddrPort(rtcp(uint16(i)), rtcpB)
		time.Sleep(100 * time.Millisecond)
	}
	drain(a1)
	drain(b1)
	in0, _ = nettopo.UDPInDatagrams(topo.R)
	if got := exchangePkt(t, a1, rtcpA, b1, rtcpB, 50, rtcp, 200); got != 50 {
		t.Errorf("B received %d of 50 RTCP packets from %s", got, rtcpB)
	}
	if in1, _ = nettopo.UDPInDatagrams(topo.R); in1 != in0 {
		t.Errorf("R's sockets received %d RTCP datagrams: not bypassed", in1-in0)
	}

	// Delete: the flow no longer forwards.
	if r, err := ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": "call-1", "from-tag": "ft"}); err != nil || r.Str("result") != "ok" {
		t.Fatalf("delete: %v %v", r, err)
	}
	if got := exchange(t, a, relayA, b, relayB, 20); got != 0 {
		t.Errorf("B received %d packets after delete", got)
	}
	if !tableExists(t, topo) {
		t.Error("table missing while mediad runs")
	}
	d.stop(t, syscall.SIGTERM)
	if tableExists(t, topo) {
		t.Error("table still present after SIGTERM")
	}

	// Second instance: kill -9 leaves the table (and its flow) behind; the
	// next start replaces it and the old flow stops forwarding.
	d = startMediad(t, bin, topo)
	relayA, relayB = setupCall(ctx, t, d.ng, "call-2")
	waitKernelized(ctx, t, d.ng, "call-2", a, b, relayA, relayB)
	d.stop(t, syscall.SIGKILL)
	if !tableExists(t, topo) {
		t.Fatal("no table left after kill -9 (nothing to check the restart against)")
	}
	if got := exchange(t, a, relayA, b, relayB, 20); got == 0 {
		t.Log("the orphaned flow no longer forwarded after kill -9")
	}
	d = startMediad(t, bin, topo)
	if got := exchange(t, a, relayA, b, relayB, 20); got != 0 {
		t.Errorf("B received %d packets of the killed instance's flow after the restart", got)
	}
	if legs := mapElements(t, topo, "leg"); legs != "" {
		t.Errorf("restarted instance's leg map is not empty: %q", legs)
	}
	d.stop(t, syscall.SIGTERM)
	if tableExists(t, topo) {
		t.Error("table still present after the restarted instance's SIGTERM")
	}
}

// buildMediad builds the daemon under test.
func buildMediad(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mediad")
	//lint:ignore SA1019 the test binary runs where it was built
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	}
	cmd := exec.Command(gobin, "build", "-o", bin, "sipmedia/mediad/cmd/mediad")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mediad: %v\n%s", err, out)
	}
	return bin
}

type daemon struct {
	cmd  *exec.Cmd
	ng   *ngproto.Client
	logs *logbuf.Buffer
	done chan error
}

// startMediad runs bin in R with two logical interfaces (A's and B's link,
// IPv4 and IPv6 each: two kernel tables) and the default delayed endpoint
// learning.
func startMediad(t *testing.T, bin string, topo *nettopo.Topology, extra ...string) *daemon {
	t.Helper()
	d := &daemon{logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command("ip", "netns", "exec", topo.Name("r"), bin, "--config-file=none", "-t", strconv.Itoa(table), "-F",
		"-i", "a/"+nettopo.AddrRA.String(), "-i", "a/"+nettopo.Addr6RA.String(),
		"-i", "b/"+nettopo.AddrRB.String(), "-i", "b/"+nettopo.Addr6RB.String(), "-n", ngAddr, "-c", cliAddr,
		"-m", "30000", "-M", "30100", "-f", "-E", "-L", "7", "--delete-delay", "0")
	d.cmd.Args = append(d.cmd.Args, extra...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("mediad log:\n%s", d.logs.String())
		}
	})
	err := nettopo.Do(topo.R, func() error {
		var err error
		d.ng, err = ngproto.Dial(ngAddr, ngproto.ClientConfig{Retries: 2, Interval: 200 * time.Millisecond})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ng.Close() })
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := d.ng.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case err := <-d.done:
			t.Fatalf("mediad exited: %v\n%s", err, d.logs.String())
		default:
		}
		if i > 40 {
			t.Fatalf("mediad does not answer ping: %v\n%s", err, d.logs.String())
		}
	}
	if !strings.Contains(d.logs.String(), "kernel fast path ready") {
		t.Fatalf("kernel path not opened:\n%s", d.logs.String())
	}
	return d
}

func (d *daemon) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	// ip netns exec execs the daemon: the pid is mediad's.
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("mediad did not exit on %v", sig)
	}
	if strings.Contains(d.logs.String(), "DATA RACE") { // GOFLAGS=-race builds a race-checked daemon
		t.Errorf("data race in mediad:\n%s", d.logs.String())
	}
}

func sdpFor(ap netip.AddrPort) string { return sdpDir(ap, "sendrecv", 1) }

func sdpDir(ap netip.AddrPort, dir string, version int) string {
	fam := "IP4"
	if ap.Addr().Is6() {
		fam = "IP6"
	}
	return fmt.Sprintf("v=0\r\no=- 1 %d IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=%s\r\n",
		version, fam, ap.Addr(), fam, ap.Addr(), ap.Port(), dir)
}

var (
	mPort = regexp.MustCompile(`m=audio (\d+) `)
	cAddr = regexp.MustCompile(`c=IN IP[46] ([0-9a-f.:]+)`)
)

// setupCall offers from A (interface a) to B (interface b) and answers;
// it returns the relay endpoints A and B send to (R's address on each
// side's link).
func setupCall(ctx context.Context, t *testing.T, ng *ngproto.Client, id string) (ra, rb netip.AddrPort) {
	t.Helper()
	return setupCallFor(ctx, t, ng, id, peerA, peerB, nettopo.AddrRA, nettopo.AddrRB)
}

// setupCallFor is setupCall for peers pa and pb, expecting the relay on
// wantA and wantB.
func setupCallFor(ctx context.Context, t *testing.T, ng *ngproto.Client, id string, pa, pb netip.AddrPort, wantA, wantB netip.Addr) (ra, rb netip.AddrPort) {
	t.Helper()
	port := func(r ngproto.Dict) netip.AddrPort {
		m := mPort.FindStringSubmatch(r.Str("sdp"))
		c := cAddr.FindStringSubmatch(r.Str("sdp"))
		if m == nil || c == nil {
			t.Fatalf("no m= port or c= address in %v", r)
		}
		p, _ := strconv.Atoi(m[1])
		return netip.AddrPortFrom(netip.MustParseAddr(c[1]), uint16(p))
	}
	r, err := ng.Do(ctx, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "ft", "sdp": sdpFor(pa),
		"direction": []any{"a", "b"}})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("offer: %v %v", r, err)
	}
	rb = port(r) // B sends here
	r, err = ng.Do(ctx, ngproto.Dict{"command": "answer", "call-id": id, "from-tag": "ft", "to-tag": "tt", "sdp": sdpFor(pb),
		"direction": []any{"a", "b"}})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("answer: %v %v", r, err)
	}
	ra = port(r) // A sends here
	if ra.Addr() != wantA || rb.Addr() != wantB {
		t.Fatalf("relay endpoints %s (A) and %s (B) are not on A's and B's links", ra, rb)
	}
	return ra, rb
}

// waitKernelized sends RTP both ways (50 pps) until query shows the call
// kernelized (delayed learning confirms 3 s after signalling).
func waitKernelized(ctx context.Context, t *testing.T, ng *ngproto.Client, id string, a *net.UDPConn, b *net.UDPConn, ra, rb netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for seq := 0; time.Now().Before(deadline); seq++ {
		a.WriteToUDPAddrPort(rtp(uint16(seq)), ra)
		b.WriteToUDPAddrPort(rtp(uint16(seq)), rb)
		time.Sleep(20 * time.Millisecond)
		if seq%25 == 24 && hasFlag(query(ctx, t, ng, id), "kernelized") {
			drain(a)
			drain(b)
			return
		}
	}
	t.Fatalf("call %s not kernelized within 15 s: %v", id, query(ctx, t, ng, id))
}

// rtcp is an RTCP sender report header carrying seq where the length
// would be (the relay and the kernel do not look).
func rtcp(seq uint16) []byte {
	p := make([]byte, 28)
	p[0], p[1] = 0x80, 200
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], 0x1234)
	return p
}

func rtp(seq uint16) []byte {
	p := make([]byte, 172)
	p[0], p[1] = 0x80, 0 // RTP v2, PCMU
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[8:], 0x1234)
	return p
}

// drain discards what is queued on c.
func drain(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			c.SetReadDeadline(time.Time{})
			return
		}
	}
}

// exchange sends n packets A->B and n B->A through the relay and returns
// how many B received from rb (R's relay port on B's side) with A's
// sequence numbers. A's copies must come from ra.
func exchange(t *testing.T, a *net.UDPConn, ra netip.AddrPort, b *net.UDPConn, rb netip.AddrPort, n int) int {
	t.Helper()
	return exchangePkt(t, a, ra, b, rb, n, rtp, 0)
}

// exchangePkt is exchange with packets from mk whose second byte is pt.
func exchangePkt(t *testing.T, a *net.UDPConn, ra netip.AddrPort, b *net.UDPConn, rb netip.AddrPort, n int,
	mk func(uint16) []byte, pt byte) int {
	t.Helper()
	var wg sync.WaitGroup
	count := func(c *net.UDPConn, from netip.AddrPort, out *int) {
		defer wg.Done()
		seen := make(map[uint16]bool)
		buf := make([]byte, 2048)
		for {
			c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
			k, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				c.SetReadDeadline(time.Time{})
				*out = len(seen)
				return
			}
			if src == from && k >= 4 && buf[1] == pt {
				seen[binary.BigEndian.Uint16(buf[2:])] = true
			}
		}
	}
	var gotA, gotB int
	wg.Add(2)
	go count(b, rb, &gotB)
	go count(a, ra, &gotA)
	for i := range n {
		a.WriteToUDPAddrPort(mk(uint16(10000+i)), ra)
		b.WriteToUDPAddrPort(mk(uint16(10000+i)), rb)
		if i%20 == 19 {
			time.Sleep(5 * time.Millisecond) // a little pacing, no bursts beyond socket buffers
		}
	}
	wg.Wait()
	if gotA != gotB {
		t.Logf("A received %d, B received %d", gotA, gotB)
	}
	return gotB
}

func query(ctx context.Context, t *testing.T, ng *ngproto.Client, id string) ngproto.Dict {
	t.Helper()
	r, err := ng.Do(ctx, ngproto.Dict{"command": "query", "call-id": id})
	if err != nil || r.Str("result") != "ok" {
		t.Fatalf("query: %v %v", r, err)
	}
	return r
}

// hasFlag finds a stream whose "flags" list holds f anywhere in a reply.
func hasFlag(v any, f string) bool {
	switch x := v.(type) {
	case ngproto.Dict:
		for k, e := range x {
			if k == "flags" && hasString(e, f) {
				return true
			}
			if hasFlag(e, f) {
				return true
			}
		}
	case map[string]any:
		return hasFlag(ngproto.Dict(x), f)
	case []any:
		for _, e := range x {
			if hasFlag(e, f) {
				return true
			}
		}
	}
	return false
}

func hasString(v any, s string) bool {
	l, _ := v.([]any)
	for _, e := range l {
		if fmt.Sprint(e) == s {
			return true
		}
	}
	return false
}

// streamPackets sums the RTP packet totals of the reply ("totals" "RTP").
func streamPackets(r ngproto.Dict) int64 {
	tot, _ := r.Get("totals")
	td, ok := tot.(ngproto.Dict)
	if !ok {
		if m, ok2 := tot.(map[string]any); ok2 {
			td = m
		}
	}
	rtpv, _ := td.Get("RTP")
	rd, ok := rtpv.(ngproto.Dict)
	if !ok {
		if m, ok2 := rtpv.(map[string]any); ok2 {
			rd = m
		}
	}
	p, _ := rd.Int("packets")
	return p
}

// cliTotal reads one "list totals" line from the CLI port in R.
func cliTotal(t *testing.T, topo *nettopo.Topology, name string) uint64 {
	t.Helper()
	var c net.Conn
	if err := nettopo.Do(topo.R, func() error {
		var err error
		c, err = net.DialTimeout("tcp", cliAddr, 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "list totals\n"); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, v)
			}
			return n
		}
	}
	t.Fatalf("no %q in list totals:\n%s", name, out)
	return 0
}

func nft(t *testing.T, topo *nettopo.Topology, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", topo.Name("r"), "nft"}, args...)...).CombinedOutput()
	return string(out), err
}

func tableExists(t *testing.T, topo *nettopo.Topology) bool {
	t.Helper()
	out, err := nft(t, topo, "list", "tables")
	if err != nil {
		t.Fatalf("nft list tables: %v %s", err, out)
	}
	return strings.Contains(out, fmt.Sprintf("mediad_%d", table))
}

// mapElements returns the elements line of a map of the table ("" if none).
func mapElements(t *testing.T, topo *nettopo.Topology, name string) string {
	t.Helper()
	out, err := nft(t, topo, "list", "map", "ip", fmt.Sprintf("mediad_%d", table), name)
	if err != nil {
		t.Fatalf("nft list map: %v %s", err, out)
	}
	if i := strings.Index(out, "elements"); i >= 0 {
		return strings.TrimSpace(out[i:])
	}
	return ""
}
