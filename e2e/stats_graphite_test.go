package e2e

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/ngproto"
)

// graphiteReport is one interval's lines: names in order, values by name.
type graphiteReport struct {
	names  []string
	values map[string]string
}

// graphiteCollector reads a daemon's reports from its connection.
type graphiteCollector struct {
	mu      sync.Mutex
	reports []graphiteReport
}

func (g *graphiteCollector) read(c net.Conn, prefix string) {
	sc := bufio.NewScanner(c)
	var cur *graphiteReport
	lastTS := ""
	for sc.Scan() {
		// "PREFIXname value timestamp"; rtpengine's names may hold blanks.
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		f := strings.Fields(line)
		if !ok || len(f) < 3 {
			continue
		}
		ts, val := f[len(f)-1], f[len(f)-2]
		name := strings.Join(f[:len(f)-2], " ")
		g.mu.Lock()
		if cur == nil || ts != lastTS || cur.values[name] != "" {
			g.reports = append(g.reports, graphiteReport{values: map[string]string{}})
			cur = &g.reports[len(g.reports)-1]
			lastTS = ts
		}
		cur.names = append(cur.names, name)
		cur.values[name] = val
		g.mu.Unlock()
	}
}

func (g *graphiteCollector) snapshot() []graphiteReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]graphiteReport, len(g.reports))
	copy(out, g.reports)
	return out
}

// graphiteNames are rtpengine 10.5's Graphite lines (daemon/graphite.c)
// for a daemon on the interfaces default/127.0.0.1 and default/::1.
func graphiteNames() []string {
	var out []string
	for _, c := range []string{"ping", "offer", "answer", "delete", "query", "list", "start recording",
		"stop recording", "start forwarding", "stop forwarding", "block DTMF", "unblock DTMF", "block media",
		"unblock media", "play media", "stop media", "play DTMF", "statistics", "silence media", "unsilence media",
		"publish", "subscribe request", "subscribe answer", "unsubscribe"} {
		out = append(out, c+"_time_min", c+"_time_max", c+"_time_avg", c+"s_ps_min", c+"s_ps_max", c+"s_ps_avg", c+"_count")
	}
	return append(out, "call_dur", "average_call_dur", "forced_term_sess", "managed_sess", "managed_sess_min",
		"managed_sess_max", "current_sessions_total", "current_sessions_own", "current_sessions_foreign",
		"current_transcoded_media", "current_sessions_ipv4", "current_sessions_ipv6", "current_sessions_mixed",
		"nopacket_relayed_sess", "oneway_stream_sess", "regular_term_sess", "relayed_errors_user",
		"relayed_packets_user", "relayed_bytes_user", "relayed_errors_kernel", "relayed_packets_kernel",
		"relayed_bytes_kernel", "relayed_errors", "relayed_packets", "relayed_bytes", "silent_timeout_sess",
		"final_timeout_sess", "offer_timeout_sess", "timeout_sess", "reject_sess",
		"ports_free_default_127.0.0.1", "ports_used_default_127.0.0.1", "ports_free_default_::1", "ports_used_default_::1")
}

// TestGraphite: --graphite on rtpengine 10.5 and mediad, each reporting
// every second to a listener of the test's, through a call (offer, answer,
// 5 rounds of 2 RTP and 1 RTCP packets each way, delete): every report
// has rtpengine's lines in its order; the command counts reach 1 offer,
// answer and delete, the interval counters add up to the 30 packets
// relayed and the one call ended, a report during the call counts one
// session, and the ports add up to the daemon's range.
func TestGraphite(t *testing.T) {
	lns := map[string]net.Listener{}
	for _, name := range []string{"mediad", "rtpengine"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns[name] = ln
	}
	const prefix = "e2e."
	extra := func(name string) []string {
		return []string{"--graphite=" + lns[name].Addr().String(), "--graphite-interval=1", "--graphite-prefix=" + prefix}
	}
	onBothDaemonsWith(t, extra, func(t *testing.T, name, ng string) {
		_ = lns[name].(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := lns[name].Accept()
		if err != nil {
			t.Fatalf("the daemon did not connect: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		g := &graphiteCollector{}
		go g.read(c, prefix)

		callID := "graphite-" + name
		a, b := newBlockCall(t, ng, callID, nil)
		for range 5 {
			a.send(t)
			b.send(t)
			receivedBy(t, a, b)
		}
		// A report while the call is up.
		during := len(g.snapshot())
		if !eventually(5*time.Second, func() bool { return len(g.snapshot()) >= during+2 }) {
			t.Fatalf("reports stopped: %d", len(g.snapshot()))
		}
		if r := ngDo(t, ng, ngproto.Dict{"command": "delete", "call-id": callID}); r.Result() != "ok" {
			t.Fatalf("delete: %v", r)
		}
		var reports []graphiteReport
		ok := eventually(10*time.Second, func() bool {
			reports = g.snapshot()
			n := len(reports)
			// Two complete reports after the one that counted the delete.
			return n >= 3 && reports[n-3].values["delete_count"] == "1"
		})
		if !ok {
			t.Fatalf("no report counted the delete (%d reports)", len(reports))
		}
		reports = reports[:len(reports)-1] // the last may be cut short
		want := strings.Join(graphiteNames(), "|")
		sum := map[string]int{}
		maxSessions := 0
		for i, r := range reports {
			if got := strings.Join(r.names, "|"); got != want {
				t.Fatalf("report %d's lines:\n%s\nwant\n%s", i, strings.ReplaceAll(got, "|", "\n"), strings.ReplaceAll(want, "|", "\n"))
			}
			for _, k := range []string{"relayed_packets_user", "relayed_packets", "relayed_packets_kernel", "regular_term_sess", "reject_sess"} {
				n, _ := strconv.Atoi(r.values[k])
				sum[k] += n
			}
			n, _ := strconv.Atoi(r.values["current_sessions_total"])
			maxSessions = max(maxSessions, n)
			free, _ := strconv.Atoi(r.values["ports_free_default_127.0.0.1"])
			used, _ := strconv.Atoi(r.values["ports_used_default_127.0.0.1"])
			if free+used != 100 {
				t.Errorf("report %d: ports free %d + used %d, want the range's 100", i, free, used)
			}
		}
		last := reports[len(reports)-1].values
		for _, k := range []string{"offer_count", "answer_count", "delete_count"} {
			if last[k] != "1" {
				t.Errorf("%s %q, want 1", k, last[k])
			}
		}
		if last["current_sessions_total"] != "0" {
			t.Errorf("sessions after the delete: %s", last["current_sessions_total"])
		}
		if sum["relayed_packets_user"] != 30 || sum["relayed_packets"] != 30 || sum["relayed_packets_kernel"] != 0 {
			t.Errorf("relayed packets over the reports: %v, want 30 in userspace", sum)
		}
		if sum["regular_term_sess"] != 1 || sum["reject_sess"] != 0 || maxSessions != 1 {
			t.Errorf("sessions: ended %d, rejected %d, at most %d at once; want 1, 0, 1", sum["regular_term_sess"], sum["reject_sess"], maxSessions)
		}
	})
}
