package control

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/ports"
	"sipmedia/ngproto"
)

const testSDP = "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\n"

var testFrom = netip.MustParseAddrPort("127.0.0.1:5060")

func serve(h *Handler, d ngproto.Dict) ngproto.Dict {
	return h.ServeNG(context.Background(), d, testFrom)
}

func TestUnsupportedAndUnknownCommands(t *testing.T) {
	reg, _ := newTestRegistry(t, 44000, 44099)
	h := NewHandler(reg, nil, nil)
	for cmd := range notSupported {
		r := serve(h, ngproto.Dict{"command": cmd, "call-id": "x"})
		if r.Str("result") != "error" || !strings.Contains(r.Str("error-reason"), cmd) {
			t.Errorf("%s: %v", cmd, r)
		}
		if ngproto.IsFailoverReason(r.Str("error-reason")) {
			t.Errorf("%s: reply is a failover reason", cmd)
		}
	}
	if r := serve(h, ngproto.Dict{"command": "frobnicate"}); r.Str("error-reason") != "Unrecognized command" {
		t.Errorf("unknown: %v", r)
	}
	if r := serve(h, ngproto.Dict{"call-id": "x"}); r.Str("result") != "error" {
		t.Errorf("no command: %v", r)
	}
	if r := serve(h, ngproto.Dict{"command": "cli", "body": "list numsessions"}); r.Str("result") != "error" {
		t.Errorf("cli without runner: %v", r)
	}
}

func TestListAndSessionLimitReply(t *testing.T) {
	reg, _ := newTestRegistry(t, 44100, 44199)
	h := NewHandler(reg, nil, nil)
	for i := 0; i < 3; i++ {
		r := serve(h, ngproto.Dict{"command": "offer", "call-id": fmt.Sprintf("c%d", i), "from-tag": "a", "sdp": testSDP})
		if r.Str("result") != "ok" {
			t.Fatal(r)
		}
	}
	r := serve(h, ngproto.Dict{"command": "list", "limit": int64(2)})
	if calls, _ := r["calls"].([]any); len(calls) != 2 || calls[0] != "c0" {
		t.Errorf("list limit 2: %v", r)
	}
	r = serve(h, ngproto.Dict{"command": "list"})
	if calls, _ := r["calls"].([]any); len(calls) != 3 {
		t.Errorf("list: %v", r)
	}
	r = serve(h, ngproto.Dict{"command": "list", "limit": "0"})
	if calls, _ := r["calls"].([]any); r.Str("result") != "ok" || len(calls) != 0 {
		t.Errorf("list limit 0: %v", r)
	}
}

func TestCLIThroughNGAndAdapter(t *testing.T) {
	reg, alloc := newTestRegistry(t, 44200, 44299)
	h := NewHandler(reg, nil, nil)
	cfg := config.Default()
	runner := cli.NewRunner(cfg, NewCLICalls(reg, h), alloc, nil)
	h.cli = runner
	if r := serve(h, ngproto.Dict{"command": "offer", "call-id": "cli-call", "from-tag": "a", "sdp": testSDP}); r.Str("result") != "ok" {
		t.Fatal(r)
	}
	r := serve(h, ngproto.Dict{"command": "cli", "body": "list numsessions"})
	if !strings.Contains(r.Str("response"), "Current sessions own: 1") {
		t.Errorf("numsessions: %q", r.Str("response"))
	}
	out := runner.Run(context.Background(), "list sessions cli-call")
	for _, want := range []string{"callid: cli-call", "--- Tag 'a', type: FROM_TAG", "------ Media #1 (audio over RTP/AVP)", "198.51.100.1:2000"} {
		if !strings.Contains(out, want) {
			t.Errorf("session detail lacks %q:\n%s", want, out)
		}
	}
	if out := runner.Run(context.Background(), "list sessions all"); !strings.Contains(out, "cli-call") {
		t.Errorf("sessions all: %q", out)
	}
	if out := runner.Run(context.Background(), "list totals"); !strings.Contains(out, "127.0.0.1") {
		t.Errorf("totals lack the proxy row:\n%s", out)
	}
	runner.Run(context.Background(), "terminate cli-call")
	if reg.Len() != 0 || alloc.InUse() != 0 {
		t.Errorf("terminate left %d calls, %d ports", reg.Len(), alloc.InUse())
	}
}

// TestStatisticsShape compares the statistics reply's keys with the reply
// rtpengine 10.5 gave (testdata/statistics.json).
func TestStatisticsShape(t *testing.T) {
	reg, _ := newTestRegistry(t, 44300, 44399)
	h := NewHandler(reg, nil, nil)
	serve(h, ngproto.Dict{"command": "ping"})
	b, err := os.ReadFile("testdata/statistics.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := serve(h, ngproto.Dict{"command": "statistics"})
	if d := keysDiff("", toDict(want), got); d != "" {
		t.Error(d)
	}
}

// TestStatisticsValues: the totals count calls and their durations (the
// average over ended calls only), and the key set stays rtpengine's.
func TestStatisticsValues(t *testing.T) {
	reg, _ := newTestRegistry(t, 44300, 44399)
	h := NewHandler(reg, nil, nil)
	for _, id := range []string{"s1", "s2", "live"} {
		if r := serve(h, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "a", "sdp": testSDP}); r.Str("result") != "ok" {
			t.Fatalf("offer: %v", r)
		}
	}
	time.Sleep(20 * time.Millisecond)
	for _, id := range []string{"s1", "s2"} {
		serve(h, ngproto.Dict{"command": "delete", "call-id": id})
	}
	st := serve(h, ngproto.Dict{"command": "statistics"}).Sub("statistics")
	tot, cur := st.Sub("totalstatistics"), st.Sub("currentstatistics")
	if n, _ := tot.Int("managedsessions"); n != 3 {
		t.Errorf("managedsessions %d, want 3", n)
	}
	if n, _ := tot.Int("regularterminatedsessions"); n != 2 {
		t.Errorf("regularterminatedsessions %d, want 2", n)
	}
	if n, _ := cur.Int("sessionsown"); n != 1 {
		t.Errorf("sessionsown %d, want 1", n)
	}
	avg, err := strconv.ParseFloat(tot.Str("avgcallduration"), 64)
	total, err2 := strconv.ParseFloat(tot.Str("totalcallsduration"), 64)
	if err != nil || err2 != nil || avg < 0.02 || math.Abs(avg*2-total) > 1e-5 {
		t.Errorf("avgcallduration %q, totalcallsduration %q: want the average of the two ended calls (>= 20 ms)", tot.Str("avgcallduration"), tot.Str("totalcallsduration"))
	}
	if sq, err := strconv.ParseFloat(tot.Str("totalcallsduration2"), 64); err != nil || sq <= 0 {
		t.Errorf("totalcallsduration2 %q, want > 0", tot.Str("totalcallsduration2"))
	}
}

// keysDiff compares dictionary keys recursively (lists by first element).
func keysDiff(path string, want, got any) string {
	switch w := want.(type) {
	case ngproto.Dict:
		g, ok := got.(ngproto.Dict)
		if !ok {
			return fmt.Sprintf("%s: got %T, want dict", path, got)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return fmt.Sprintf("%s: missing key %q", path, k)
			}
			if d := keysDiff(path+"/"+k, w[k], g[k]); d != "" {
				return d
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: extra key %q", path, k)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: got %T, want list", path, got)
		}
		if len(w) > 0 && len(g) > 0 {
			return keysDiff(path+"[0]", w[0], g[0])
		}
	}
	return ""
}

func TestSessionLimitReplies(t *testing.T) {
	alloc, err := ports.New(44100, 44199, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := call.NewRegistry(call.Config{
		Interfaces:  []call.Interface{{Name: "default", Address: netip.MustParseAddr("127.0.0.1")}},
		MaxSessions: 1,
	}, alloc, nil)
	t.Cleanup(reg.Close)
	h := NewHandler(reg, nil, nil)
	if r := serve(h, ngproto.Dict{"command": "offer", "call-id": "m1", "from-tag": "a", "sdp": testSDP}); r.Str("result") != "ok" {
		t.Fatal(r)
	}
	r := serve(h, ngproto.Dict{"command": "offer", "call-id": "m2", "from-tag": "a", "sdp": testSDP})
	if r.Str("result") != "error" || r.Str("error-reason") != "Parallel session limit reached" {
		t.Errorf("limit: %v", r)
	}
	r = serve(h, ngproto.Dict{"command": "offer", "call-id": "m3", "from-tag": "a", "sdp": testSDP, "supports": []any{"load limit"}})
	if r.Str("result") != "load limit" || r.Str("message") != "Parallel session limit reached" {
		t.Errorf("load limit: %v", r)
	}
	if r := serve(h, ngproto.Dict{"command": "offer", "call-id": "m1", "from-tag": "a", "sdp": testSDP}); r.Str("result") != "ok" {
		t.Errorf("existing call refused: %v", r)
	}
}
