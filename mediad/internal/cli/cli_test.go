package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/loglevel"
)

// memCalls is an in-memory Calls for tests; the call registry implements
// the same interface in production.
type memCalls struct {
	mu       sync.Mutex
	sessions []Session
	totals   Totals
	limits   call.Limits
}

// rtpengineLimits are rtpengine 10.5's defaults, as the daemon's
// registry starts with them.
var rtpengineLimits = call.Limits{MaxSessions: -1, Timeout: 60 * time.Second, SilentTimeout: 3600 * time.Second,
	OfferTimeout: 3600 * time.Second, DeleteDelay: 30 * time.Second}

func (m *memCalls) Limits() call.Limits {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.limits
}

func (m *memCalls) SetLimits(change func(*call.Limits)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(&m.limits)
}

func (m *memCalls) Counts() Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Counts{Own: len(m.sessions), IPv4Only: len(m.sessions)}
}

func (m *memCalls) Sessions() []Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Session(nil), m.sessions...)
}

func (m *memCalls) Session(id string) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.CallID == id {
			return s, true
		}
	}
	return Session{}, false
}

func (m *memCalls) Terminate(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.sessions {
		if s.CallID == id {
			m.sessions = append(m.sessions[:i], m.sessions[i+1:]...)
			return true
		}
	}
	return false
}

func (m *memCalls) TerminateAll() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.sessions)
	m.sessions = nil
	return n
}

func (m *memCalls) Totals() Totals {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totals
}

func testConfig(t *testing.T, extra ...string) config.Config {
	t.Helper()
	c, err := config.Parse(append([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "127.0.0.1:2223"}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

func sampleCall() Session {
	created := time.Unix(1796028763, 0)
	return Session{
		CallID: "call-abc", Created: created, LastSignal: created.Add(time.Second), Proxy: "127.0.0.1:43378",
		Tags: []Tag{
			{
				Tag: "ft1", Type: "FROM_TAG", Label: "caller", Started: created,
				Terminated: created.Add(839482 * time.Microsecond), SubscribedTo: []string{"tt1"}, Subscribers: []string{"tt1"},
				Medias: []Media{{Index: 1, Type: "audio", Protocol: "RTP/AVP", Streams: []Stream{
					{Local: netip.MustParseAddrPort("127.0.0.1:30014"), Remote: netip.MustParseAddrPort("127.0.0.1:5000"), LastPacket: created},
					{Local: netip.MustParseAddrPort("127.0.0.1:30015"), Remote: netip.MustParseAddrPort("127.0.0.1:5001"), RTCP: true, LastPacket: created},
				}}},
			},
			{
				Tag: "", Type: "UNKNOWN", ViaBranch: "vb1", Started: created, Terminated: created.Add(155909 * time.Microsecond),
				SubscribedTo: []string{"ft1"}, Subscribers: []string{"ft1"},
				Medias: []Media{{Index: 1, Type: "audio", Protocol: "RTP/AVP", Codec: "PCMU/8000", Streams: []Stream{
					{Local: netip.MustParseAddrPort("127.0.0.1:30026"), SSRC: 0xabc, Packets: 3, Bytes: 480, Errors: 1, LastPacket: created},
				}}},
			},
		},
	}
}

// TestRunnerFormats checks outputs against text captured from rtpengine
// 10.5 (same state, same command).
func TestRunnerFormats(t *testing.T) {
	lim := rtpengineLimits
	lim.MaxSessions, lim.DeleteDelay = 50, 12*time.Second
	calls := &memCalls{sessions: []Session{sampleCall()}, limits: lim}
	r := NewRunner(testConfig(t, "--max-sessions=50", "-d", "12", "--log-level-ice=7"), calls, nil, nil)
	levels := loglevel.New(6, map[string]int{"ice": 7})
	r.UseLevels(levels)
	ctx := context.Background()
	tests := []struct{ cmd, want string }{
		{"list sessions all", "callid:                                                     call-abc | deletionmark:  no | created:  1796028763 | proxy:127.0.0.1:43378 | redis_keyspace:0 | foreign:no\n"},
		{"list sessions own", "callid:                                                     call-abc | deletionmark:  no | created:  1796028763 | proxy:127.0.0.1:43378 | redis_keyspace:0 | foreign:no\n"},
		{"list sessions foreign", "No foreign sessions on this media relay.\n"},
		{"list sessions call-abc", "\ncallid: call-abc\ndeletionmark: no\ncreated: 1796028763\nproxy: 127.0.0.1:43378\ntos: 0\nlast_signal: 1796028764\nredis_keyspace: 0\nforeign: no\n\n" +
			"--- Tag 'ft1', type: FROM_TAG, label 'caller', branch '', callduration 0.839482\n" +
			"---     subscribed to 'tt1'\n" +
			"---     subscription of 'tt1'\n" +
			"------ Media #1 (audio over RTP/AVP) using unknown codec\n" +
			"-------- Port       127.0.0.1:30014 <>       127.0.0.1:5000 , SSRC 0, 0 p, 0 b, 0 e, 1796028763 ts\n" +
			"-------- Port       127.0.0.1:30015 <>       127.0.0.1:5001  (RTCP), SSRC 0, 0 p, 0 b, 0 e, 1796028763 ts\n" +
			"--- Tag '', type: UNKNOWN, label '', branch 'vb1', callduration 0.155909\n" +
			"---     subscribed to 'ft1'\n" +
			"---     subscription of 'ft1'\n" +
			"------ Media #1 (audio over RTP/AVP) using PCMU/8000\n" +
			"-------- Port       127.0.0.1:30026 <>                :0    , SSRC abc, 3 p, 480 b, 1 e, 1796028763 ts\n\n"},
		{"list sessions nope", "\nCall ID not found (nope).\n\n"},
		{"list sessions", "More parameters required.\n"},
		{"list sessions ", "More parameters required.\n"},
		{"list maxsessions", "Maximum sessions configured on rtpengine: 50\n"},
		{"get deletedelay", "12\n"},
		{"list timeout", "TIMEOUT=60\n"},
		{"list silenttimeout", "SILENT_TIMEOUT=3600\n"},
		{"list offertimeout", "OFFER_TIMEOUT=3600\n"},
		{"list finaltimeout", "FINAL_TIMEOUT=0\n"},
		{"list numsessions", "Current sessions own: 1\nCurrent sessions foreign: 0\nCurrent sessions total: 1\nCurrent transcoded media: 0\nCurrent sessions ipv4 only media: 1\nCurrent sessions ipv6 only media: 0\nCurrent sessions ip mixed  media: 0\n"},
		{"list loglevel core", "6\n"},
		{"list loglevel ice", "7\n"},
		{"list loglevel nope", ""},
		{"list", "More parameters required.\n"},
		{"list foo", "Unknown or incomplete command::foo\n"},
		{"foo", "Unknown or incomplete command::foo\n"},
		{"set maxsessions 5", "Success setting maxsessions to 5\n"},
		{"list maxsessions", "Maximum sessions configured on rtpengine: 5\n"},
		{"set controltos 5", "Success setting redis-connect-timeout to 5\n"}, // rtpengine 10.5's reply
		{"set loglevel 7", "Success setting loglevel to 7\n"},
		{"list loglevel core", "7\n"},
		{"set loglevel core 3", "Success setting loglevel to 3\n"},
		{"list loglevel core", "3\n"},
		{"list loglevel ice", "7\n"},
		{"set loglevel nope 2", "Success setting loglevel to 2\n"},
		{"set loglevel", "More parameters required.\n"},
		{"call nope info", "No such call 'nope'\n"},
		{"terminate nope", "\nCall Id not found (nope).\n\n"},
		{"terminate", "More parameters required.\n"},
		{"call call-abc terminate", "\nCall 'call-abc' terminated.\n\n"},
		{"list sessions all", "No sessions on this media relay.\n"},
		{"terminate all", "All calls terminated by operator.\n"},
	}
	for _, tc := range tests {
		if got := r.Run(ctx, tc.cmd); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	if levels.Get(loglevel.Core) != 3 || levels.Get(loglevel.Control) != 7 {
		t.Errorf("levels the logger filters by: core %d control %d, want 3 7", levels.Get(loglevel.Core), levels.Get(loglevel.Control))
	}
	if out := r.Run(ctx, "list loglevel"); !strings.HasPrefix(out, "core = 3\nspandsp = 7\n") || !strings.HasSuffix(out, "dtx = 7\n") {
		t.Errorf("list loglevel:\n%s", out)
	}
	out := r.Run(ctx, "list maxopenfiles")
	if !regexp.MustCompile(`^Maximum open-files configured on rtpengine: (\d+|infinite); cat /proc/\d+/limits\n$`).MatchString(out) {
		t.Errorf("maxopenfiles: %q", out)
	}
	calls.sessions = []Session{sampleCall()}
	calls.totals = Totals{Managed: 3, Ended: 2, TotalCallDuration: 4 * time.Second, TotalCallDurationSquared: 10,
		Proxies: []ProxyStats{{Proxy: "127.0.0.1", Requests: map[string]uint64{"Offer": 2, "Answer": 1}, Errors: 1}}}
	var js map[string]any
	if err := json.Unmarshal([]byte(r.Run(ctx, "list jsonstats")), &js); err != nil {
		t.Fatalf("jsonstats is not JSON: %v", err)
	}
	tot := js["totalstatistics"].(map[string]any)
	ctl := js["controlstatistics"].(map[string]any)
	if tot["avgcallduration"] != 2.0 || tot["totalcallsduration_stddev"] != 1.0 || ctl["totaloffercount"] != 2.0 ||
		ctl["proxies"].([]any)[0].(map[string]any)["answercount"] != 1.0 {
		t.Errorf("jsonstats values: %v %v", tot, ctl)
	}
	if out := r.Run(ctx, "list totals"); !strings.Contains(out, "\n            127.0.0.1 |          0 |          2 |          1 |          0 |") ||
		!strings.Contains(out, " Average call duration                           :2.000000 seconds\n") {
		t.Errorf("totals with values:\n%s", out)
	}
	if out := r.Run(ctx, "terminate call-abc"); out != "\nCall Id (call-abc) successfully terminated by operator.\n\n" || len(calls.sessions) != 0 {
		t.Errorf("terminate: %q, %d left", out, len(calls.sessions))
	}
}

var uptimeRE = regexp.MustCompile(`(Uptime of rtpengine +:|"uptime":)\d+`)

// TestCompareWithRtpengine runs the same commands against rtpengine 10.5
// (no calls) and against our Runner and compares the text byte for byte.
func TestCompareWithRtpengine(t *testing.T) {
	bin, err := exec.LookPath("rtpengine")
	if err != nil {
		t.Skip("rtpengine not installed (make deps installs rtpengine-daemon): ", err)
	}
	ngPort, cliPort := freeTCPPort(t), freeTCPPort(t)
	args := []string{"--config-file=none", "-t", "-1", "-i", "127.0.0.1", "-i", "::1", "-i", "pub/::1", "-n", fmt.Sprintf("127.0.0.1:%d", ngPort),
		"-c", fmt.Sprintf("127.0.0.1:%d", cliPort), "-f", "-E", "-L", "6", "-m", "40000", "-M", "40100"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", cliPort)
	waitFor(t, func() bool { _, err := Query(ctx, addr, "list timeout"); return err == nil })

	cfg, err := config.Parse(args)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(*cfg, &memCalls{limits: rtpengineLimits}, nil, nil)
	for _, c := range []string{
		"list numsessions", "list totals", "list counters", "list maxsessions", "list timeout", "list silenttimeout",
		"list offertimeout", "list finaltimeout", "list sessions all", "list sessions own", "list sessions foreign",
		"list sessions xyz", "list sessions", "terminate xyz", "terminate all", "terminate own", "foo", "list", "list foo",
		"get timeout", "list deletedelay", "list interfaces", "list maxcpu", "list maxload", "list maxbw",
		"list controltos", "help", "list help", "list loglevels", "list transcoders", "list redisallowederrors",
		"list redisdisabletime", "list redisconnecttimeout", "list rediscmdtimeout", "list loglevel core",
		"list timeoutXYZ", "list jsonstats", "set loglevel 6", "set loglevel core 6", "set",
		"params start", "params current", "params diff", "params", "params foo", "params help",
		// Changed at run time, then listed (last: they change the state).
		"set maxsessions 5", "list maxsessions", "set maxsessions 0", "list maxsessions", "set maxsessions -1",
		"list maxsessions", "set maxsessions -5", "set maxsessions abc", "set maxsessions", "set maxsessions 7x",
		"list maxsessions", "set maxcpu 50.5", "list maxcpu", "set maxcpu x", "set maxload 2.5", "list maxload",
		"set maxload 3", "list maxload", "set loglevel ice 7", "set silenttimeout 99", "set offertimeout 98",
		// Before "set maxbw": rtpengine 10.5 stores a hundred times it.
		"params diff", "params current", "params revert", "params diff", "list maxsessions", "list offertimeout",
		"set maxbw 1000", "set maxbw", "set timeout 120", "list timeout",
		"set silenttimeout 7200", "list silenttimeout", "set offertimeout 100", "list offertimeout",
		"set finaltimeout 10000", "list finaltimeout", "set timeout -5", "set timeout x", "list timeout",
		"set deletedelay 5", "list deletedelay", "set deletedelay x", "list deletedelay", "set help", "set foo",
	} {
		got := uptimeRE.ReplaceAllString(r.Run(ctx, c), "${1}N")
		// rtpengine 10.5 on a loaded machine now and then ends a CLI
		// connection early: no reply, one cut short, or a reset (CI saw an
		// empty "list foo"; 300 runs beside a make test cut "list
		// jsonstats", emptied "set loglevel core 6" and reset "foo"). So a
		// reply that differs or fails is asked for again; a real difference
		// stays.
		var want string
		for try := 1; try <= 5; try++ {
			if want, err = Query(ctx, addr, c); err != nil {
				t.Logf("rtpengine %q, try %d: %v", c, try, err)
				continue
			}
			if want = uptimeRE.ReplaceAllString(want, "${1}N"); want == got {
				break
			}
		}
		if err != nil {
			t.Fatalf("rtpengine %q: %v", c, err)
		}
		if got != want {
			t.Errorf("%q differs:\n--- rtpengine\n%s\n--- mediad\n%s", c, want, got)
		}
	}
}

// TestServerWithRtpengineCtl drives our CLI port with Debian's rtpengine-ctl.
func TestServerWithRtpengineCtl(t *testing.T) {
	ctl, err := exec.LookPath("rtpengine-ctl")
	if err != nil {
		t.Skip("rtpengine-ctl not installed (make deps installs rtpengine-utils): ", err)
	}
	before := runtime.NumGoroutine()
	calls := &memCalls{sessions: []Session{sampleCall()}, limits: rtpengineLimits}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{Runner: NewRunner(testConfig(t), calls, nil, nil)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	run := func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, ctl, append([]string{"-ip", "127.0.0.1", "-port", fmt.Sprint(port)}, args...)...).Output()
		if err != nil {
			t.Fatalf("rtpengine-ctl %v: %v", args, err)
		}
		return string(out)
	}
	if out := run("list", "numsessions"); !strings.Contains(out, "Current sessions own: 1\n") {
		t.Errorf("numsessions: %q", out)
	}
	if out := run("list", "sessions", "all"); !strings.Contains(out, "call-abc | deletionmark:  no") {
		t.Errorf("sessions all: %q", out)
	}
	if out := run("list", "sessions", "call-abc"); !strings.Contains(out, "--- Tag 'ft1', type: FROM_TAG") {
		t.Errorf("session detail: %q", out)
	}
	if out := run("get", "timeout"); out != "TIMEOUT=60\n" {
		t.Errorf("get timeout: %q", out)
	}
	if out := run("terminate", "call-abc"); !strings.Contains(out, "successfully terminated") {
		t.Errorf("terminate: %q", out)
	}
	if out := run("bogus"); !strings.HasPrefix(out, "Unknown") {
		t.Errorf("bogus: %q", out)
	}
	// Our own client gives the same text.
	if out, err := Query(ctx, ln.Addr().String(), "list sessions all"); err != nil || out != "No sessions on this media relay.\n" {
		t.Errorf("Query: %q %v", out, err)
	}

	// Over-long line without newline: connection dropped, no answer.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(strings.Repeat("x", MaxLine+10)))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := readAll(c); len(b) != 0 {
		t.Errorf("answer to an over-long line: %q", b)
	}
	c.Close()
	// Blank lines are skipped, CRLF accepted.
	c, _ = net.Dial("tcp", ln.Addr().String())
	c.Write([]byte("\r\n\nlist timeout\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := readAll(c); string(b) != "TIMEOUT=60\n" {
		t.Errorf("CRLF command: %q", b)
	}
	c.Close()
	// A client that connects and sends nothing does not block shutdown.
	idle, _ := net.Dial("tcp", ln.Addr().String())
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "\n\r\nb\r\n": "b", "tail": "tail", "x y z\nmore": "x y z"} {
		got, err := readLine(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readLine(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := readLine(strings.NewReader(strings.Repeat("a", MaxLine+1) + "\n")); err == nil {
		t.Error("over-long line accepted")
	}
	if _, err := readLine(strings.NewReader("")); err == nil {
		t.Error("empty input accepted")
	}
}

func FuzzRunner(f *testing.F) {
	for _, s := range []string{"list sessions all", "terminate all", "call x info", "list loglevel", "get", "list sessions \x00", "help",
		"set maxsessions 5", "set maxcpu 1e400", "set timeout 99999999999999999999", "set deletedelay -1", "set maxload .5e-3x"} {
		f.Add(s)
	}
	calls := &memCalls{sessions: []Session{sampleCall()}, limits: rtpengineLimits}
	cfg, _ := config.Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1"})
	r := NewRunner(*cfg, calls, nil, nil)
	f.Fuzz(func(t *testing.T, s string) {
		// Every command answers something, except rtpengine's "list loglevel <unknown subsystem>".
		if out := r.Run(context.Background(), s); out == "" && !strings.Contains(s, "loglevel") {
			t.Errorf("no answer to %q", s)
		}
		calls.mu.Lock()
		if len(calls.sessions) == 0 {
			calls.sessions = []Session{sampleCall()}
		}
		calls.mu.Unlock()
	})
}

func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			u.Close()
			return port
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	// 30 s: CI's busy cores once kept rtpengine from listening for 5 s.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestParams checks "params" against rtpengine 10.5's output for the same
// options (captured with rtpengine-ctl; TestCompareWithRtpengine compares
// live), and diff and revert after changes.
func TestParams(t *testing.T) {
	cfg := testConfig(t, "-t", "-1", "-i", "ext/::1", "-c", "127.0.0.1:2224", "-u", "2225", "-m", "45600", "-M", "45699",
		"--max-cpu=90.5", "--max-load=2.5", "--control-tos=32", "--homer-id=7", "--num-threads=3", "-L", "3", "--log-level-ice=5")
	calls := &memCalls{limits: call.Limits{MaxSessions: -1, MaxCPU: 90.5, MaxLoad: 2.5, Timeout: 60 * time.Second,
		SilentTimeout: time.Hour, OfferTimeout: time.Hour, DeleteDelay: 30 * time.Second}}
	r := NewRunner(cfg, calls, nil, nil)
	var applied []int
	r.OnControlTOS(func(tos int) { applied = append(applied, tos) })
	ctx := context.Background()
	start := r.Run(ctx, "params start")
	want := "log-level-core = 3\nlog-level-spandsp = 3\nlog-level-ffmpeg = 3\nlog-level-transcoding = 3\nlog-level-codec = 3\n" +
		"log-level-rtcp = 3\nlog-level-ice = 5\nlog-level-crypto = 3\nlog-level-srtp = 3\nlog-level-internals = -1\n" +
		"log-level-http = 3\nlog-level-control = 3\nlog-level-dtx = 3\n" +
		"table = -1\nmax-sessions = -1\ntimeout = 60\nsilent-timeout = 3600\nfinal-timeout = 0\noffer-timeout = 3600\n" +
		"delete-delay = 30\nredis-expires = 86400\ntos = 0\ncontrol-tos = 32\ngraphite-interval = 0\nredis-num-threads = 4\n" +
		"homer-protocol = 2\nhomer-id = 7\nno-fallback = 0\nport-min = 45600\nport-max = 45699\nredis = :0/-1\n" +
		"redis-write = :0/-1\nno-redis-required = 0\nnum-threads = 3\nxmlrpc-format = 0\nlog_format = 0\n" +
		"redis_allowed_errors = -1\nredis_disable_time = 10\nredis_cmd_timeout = 0\nredis_connect_timeout = 1000\n" +
		"max-cpu = 90.5\nmax-load = 2.50\nmax-bandwidth = 0\ninterface[0] = default\\127.0.0.1 \ninterface[1] = ext\\::1 \n" +
		"b2b_url = (null)\nredis-auth = (null)\nredis-write-auth = (null)\nrecording-dir = (null)\nrecording-method = pcap\n" +
		"recording-format = raw\niptables-chain = (null)\nlisten-tcp = \nlisten-tcp = \nlisten-udp = 0.0.0.0:2225\n" +
		"listen-udp = [::]:2225\nlisten-ng = 127.0.0.1:2223\nlisten-ng = \nlisten-cli = 127.0.0.1:2224\nlisten-cli = \n"
	if runtime.NumCPU() > 4 {
		want = strings.Replace(want, "redis-num-threads = 4", fmt.Sprintf("redis-num-threads = %d", runtime.NumCPU()), 1)
	}
	if start != want {
		t.Errorf("params start:\n%s\nwant:\n%s", start, want)
	}
	for _, c := range []struct{ cmd, want string }{
		{"params diff", ""},
		{"set loglevel ice 7", "Success setting loglevel to 7\n"},
		{"set maxsessions 5", "Success setting maxsessions to 5\n"},
		{"set maxcpu 50.5", "Success setting maxcpu to 50.5\n"},
		{"set maxload 1.25", "Success setting maxload to 1.25\n"},
		{"set timeout 30", "Success setting timeout to 30\n"},
		{"set offertimeout 99", "Success setting timeout to 99\n"},
		{"set controltos 300", "Invalid control-tos value 300, must be between 0 and 255\n"},
		{"set controltos 40", "Success setting redis-connect-timeout to 40\n"},
		{"list controltos", "40\n"},
		{"params diff", "log-level-ice: 5 => 7\nmax-sessions: -1 => 5\nmax-cpu: 9050 => 5050\nmax-load: 250 => 125\ntimeout: 60 => 30\ncontrol-tos: 32 => 40\n"},
		{"params revert", ""},
		{"params diff", ""},
		{"list maxsessions", "Maximum sessions configured on rtpengine: -1\n"},
		{"list loglevel ice", "5\n"},
		{"list offertimeout", "OFFER_TIMEOUT=99\n"}, // not in rtpengine's revert list
		{"list controltos", "32\n"},
		{"params", "More parameters required.\n"},
		{"params foo", "Unknown or incomplete command::foo\n"},
	} {
		if got := r.Run(ctx, c.cmd); got != c.want {
			t.Errorf("%q: %q, want %q", c.cmd, got, c.want)
		}
	}
	if !slices.Equal(applied, []int{40, 32}) {
		t.Errorf("control TOS applied: %v, want [40 32]", applied)
	}
	if cur := r.Run(ctx, "params current"); !strings.Contains(cur, "\nredis-db = -1\nredis-write-db = -1\n") ||
		!strings.Contains(cur, "\noffer-timeout = 99\n") || !strings.Contains(cur, "\nmax-bw = 0\n") {
		t.Errorf("params current:\n%s", cur)
	}
}
