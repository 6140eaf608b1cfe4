package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/ngcmp"
	"sipmedia/e2e/internal/ngraw"
	"sipmedia/ngproto"
	"sipmedia/ngproto/testport"
)

var update = flag.Bool("update", false, "rewrite testdata/conformance goldens from rtpengine's replies")

// Media port ranges: disjoint per daemon, disjoint from every port and
// number the scenarios put into their SDPs (so that normalisation can tell
// daemon-chosen ports from copied ones), and below both the kernel's
// ephemeral range and the 20000+ ranges other tests give their daemons (a
// daemon sharing our range made rtpengine run out of ports).
const (
	rtpePortMin, rtpePortMax     = 10000, 11999
	mediadPortMin, mediadPortMax = 12000, 13999
	goldenDir                    = "testdata/conformance"
)

// TestConformance sends the same NG command sequences to Debian's rtpengine
// and to mediad and compares the replies structurally.
func TestConformance(t *testing.T) {
	if !daemon.HaveRtpengine() {
		t.Skipf("skipping: %s is not installed (apt-get install rtpengine-daemon)", daemon.RtpenginePath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	checkScenarios(t, scenarios())

	rtpeProc, rtpeOpts := daemon.RtpengineTB(t, daemon.Options{PortMin: rtpePortMin, PortMax: rtpePortMax})
	rtpe := newSide(t, "rtpengine", rtpeProc, rtpeOpts)

	var med *side
	if *update {
		// Goldens only need rtpengine; mediad is compared when it starts.
		med = tryMediad(ctx, t)
	} else {
		p, o := daemon.MediadTB(t, daemon.Options{PortMin: mediadPortMin, PortMax: mediadPortMax})
		med = newSide(t, "mediad", p, o)
	}

	scs := scenarios()
	matched, ran := 0, 0
	var failed []string
	for _, sc := range scs {
		didRun := false // t.Run reports true for subtests -run filtered out
		ok := t.Run(sc.name, func(t *testing.T) {
			didRun = true
			rres := rtpe.run(ctx, t, sc)
			if *update {
				writeGolden(t, sc, rres)
			} else {
				checkGolden(t, sc, rres)
			}
			if med == nil {
				t.Errorf("mediad not running")
				return
			}
			mres := med.run(ctx, t, sc)
			compareSides(t, sc, rres, mres)
		})
		if !didRun {
			continue
		}
		ran++
		if ok {
			matched++
		} else {
			failed = append(failed, sc.name)
		}
		if med != nil {
			if gone, err := med.proc.Exited(); gone {
				t.Errorf("mediad exited during scenario %s: %v\n%s", sc.name, err, med.proc.Output())
				break
			}
		}
	}
	summary := fmt.Sprintf("conformance: %d/%d scenarios match", matched, ran)
	fmt.Println(summary)
	t.Log(summary)
	if len(failed) > 0 {
		t.Logf("mismatching scenarios: %s", strings.Join(failed, ", "))
	}
}

// side is one daemon under test with its connection and bookkeeping.
type side struct {
	name    string
	proc    *daemon.Process
	opts    daemon.Options
	conn    *ngraw.Conn
	seq     int
	timeout time.Duration
	misses  int // consecutive timeouts, to stop waiting long on a dead daemon
}

func newSide(t *testing.T, name string, p *daemon.Process, o daemon.Options) *side {
	t.Helper()
	c, err := ngraw.Dial(o.NG)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.Resend = time.Second
	return &side{name: name, proc: p, opts: o, conn: c, timeout: 3 * time.Second}
}

// stepResult is what one daemon answered to one step.
type stepResult struct {
	Name     string       `json:"name"`
	Request  ngproto.Dict `json:"request,omitempty"`
	Encoding string       `json:"encoding,omitempty"`
	Raw      string       `json:"raw,omitempty"`      // raw body sent after the cookie
	Datagram string       `json:"datagram,omitempty"` // whole datagram sent without framing
	Reuse    string       `json:"reuses_cookie_of,omitempty"`
	Reply    ngproto.Dict `json:"reply,omitempty"`
	ReplyRaw string       `json:"reply_raw,omitempty"` // reply body that did not decode
	NoReply  bool         `json:"no_reply,omitempty"`
	// ReplyEncoding is "json" for a JSON reply (bencode is the default).
	ReplyEncoding string `json:"reply_encoding,omitempty"`

	cookie string
}

func (s *side) nextCookie() string {
	s.seq++
	return fmt.Sprintf("%s-%d-%d", s.name[:4], time.Now().Unix()%100000, s.seq)
}

func (s *side) run(ctx context.Context, t *testing.T, sc scenario) []stepResult {
	t.Helper()
	var res []stepResult
	byName := map[string]int{} // step name -> index in res
	callIDs := map[string]bool{}
	for _, st := range sc.steps {
		r := stepResult{Name: st.name}
		var dgram []byte
		switch {
		case st.datagram != "":
			r.Datagram = st.datagram
			dgram = []byte(st.datagram)
		default:
			r.cookie = s.nextCookie()
			if st.reuse != "" {
				i, ok := byName[st.reuse]
				if !ok {
					t.Fatalf("step %s reuses unknown step %s", st.name, st.reuse)
				}
				r.cookie, r.Reuse = res[i].cookie, st.reuse
			}
			body := []byte(st.raw)
			r.Raw = st.raw
			if st.cmd != nil {
				req := st.cmd.Clone()
				if st.sdpFrom != "" {
					i, ok := byName[st.sdpFrom]
					if !ok || res[i].Reply.Str("sdp") == "" {
						t.Errorf("%s: step %s: no SDP in reply to %s", s.name, st.name, st.sdpFrom)
						req["sdp"] = "v=0\r\n"
					} else {
						req["sdp"] = res[i].Reply.Str("sdp")
					}
				}
				if id := req.Str("call-id"); id != "" {
					callIDs[id] = true
				}
				enc := ngproto.Bencode
				r.Encoding = "bencode"
				if st.json {
					enc, r.Encoding = ngproto.JSON, "json"
				}
				var err error
				body, err = ngproto.EncodeBody(req, enc)
				if err != nil {
					t.Fatalf("step %s: encode: %v", st.name, err)
				}
				r.Request = req
			}
			dgram = append([]byte(r.cookie+" "), body...)
		}
		wait := s.timeout
		if st.datagram != "" || st.expectNoReply {
			wait = 300 * time.Millisecond
		} else if s.misses >= 3 {
			wait = 300 * time.Millisecond
		}
		reply, err := s.conn.Exchange(ctx, r.cookie, dgram, wait)
		switch {
		case errors.Is(err, ngraw.ErrNoReply):
			r.NoReply = true
			if !st.expectNoReply && st.datagram == "" {
				s.misses++
			}
		case err != nil:
			t.Fatalf("%s: step %s: %v", s.name, st.name, err)
		default:
			s.misses = 0
			d, enc, derr := ngproto.DecodeBody(reply)
			if derr != nil {
				r.ReplyRaw = string(reply)
			} else {
				r.Reply = d
				if enc == ngproto.JSON {
					r.ReplyEncoding = "json"
				}
			}
		}
		res = append(res, r)
		byName[st.name] = len(res) - 1
	}
	// Leave no call behind for the next scenario ("list" sees all calls).
	ids := make([]string, 0, len(callIDs))
	for id := range callIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := s.nextCookie()
		b, _ := ngproto.AppendMessage(nil, ngproto.Message{Cookie: c, Body: ngproto.Dict{"command": "delete", "call-id": id}})
		_, _ = s.conn.Exchange(ctx, c, b, 500*time.Millisecond)
	}
	return res
}

// normalized renders one daemon's results of a scenario comparable.
func normalized(sc scenario, res []stepResult, min, max int) []any {
	n := ngcmp.NewNormalizer(min, max)
	out := make([]any, len(res))
	for i, r := range res {
		if r.Request != nil {
			if sdp := r.Request.Str("sdp"); sdp != "" && sc.steps[i].sdpFrom == "" {
				n.NoteRequestSDP(sdp)
			}
		}
		switch {
		case r.NoReply:
			out[i] = map[string]any{"<no reply>": "<no reply>"}
		case r.ReplyRaw != "":
			out[i] = map[string]any{"<undecodable reply>": r.ReplyRaw}
		default:
			m := n.Reply(ngcmp.Plain(r.Reply).(map[string]any), ngcmp.Options{ShapeOnly: sc.steps[i].shapeOnly})
			if r.ReplyEncoding != "" {
				// The reply must come in the request's encoding.
				m["<reply encoding>"] = r.ReplyEncoding
			}
			out[i] = m
		}
	}
	return out
}

func compareSides(t *testing.T, sc scenario, rres, mres []stepResult) {
	t.Helper()
	want := normalized(sc, rres, rtpePortMin, rtpePortMax)
	got := normalized(sc, mres, mediadPortMin, mediadPortMax)
	var unexplained []string
	for i := range sc.steps {
		st := sc.steps[i].name
		for _, d := range ngcmp.Compare(want[i], got[i]) {
			if why := allowed(sc, st, d); why != "" {
				t.Logf("allowed difference in %s/%s: %s (%s)", sc.name, st, d, why)
				continue
			}
			unexplained = append(unexplained, fmt.Sprintf("  step %s: %s", st, d))
		}
	}
	if len(unexplained) > 0 {
		t.Errorf("%d unexplained difference(s) rtpengine vs mediad:\n%s", len(unexplained), strings.Join(unexplained, "\n"))
	}
}

func allowed(sc scenario, step string, d ngcmp.Diff) string {
	for i := range sc.allow {
		if sc.allow[i].Allows(step, d) {
			return sc.allow[i].Reason
		}
	}
	for i := range globalAllowances {
		if globalAllowances[i].Allows(step, d) {
			return globalAllowances[i].Reason
		}
	}
	return ""
}

// golden is the stored form of a scenario run against rtpengine.
type golden struct {
	Scenario    string       `json:"scenario"`
	Description string       `json:"description"`
	Daemon      string       `json:"daemon"`
	Options     []string     `json:"options"`
	PortMin     int          `json:"port_min"`
	PortMax     int          `json:"port_max"`
	Steps       []stepResult `json:"steps"`
}

func goldenPath(name string) string { return filepath.Join(goldenDir, name+".json") }

func writeGolden(t *testing.T, sc scenario, res []stepResult) {
	t.Helper()
	g := golden{
		Scenario: sc.name, Description: sc.desc,
		Daemon:  "rtpengine " + rtpengineVersion(),
		Options: daemon.Options{NG: "127.0.0.1:NG", CLI: "127.0.0.1:CLI", PortMin: rtpePortMin, PortMax: rtpePortMax}.Args(),
		PortMin: rtpePortMin, PortMax: rtpePortMax, Steps: res,
	}
	if old, err := readGolden(sc.name); err == nil && sameRun(sc, old.Steps, res, old.PortMin, old.PortMax) {
		return // unchanged after normalisation: keep the file (no churn)
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	if err := os.MkdirAll(goldenDir, 0o755); err != nil {
		t.Fatalf("golden: %v", err)
	}
	if err := os.WriteFile(goldenPath(sc.name), append(b, '\n'), 0o644); err != nil {
		t.Fatalf("golden: %v", err)
	}
}

// checkGolden verifies that rtpengine still answers as recorded, so that
// the goldens mediad's authors read stay true.
func checkGolden(t *testing.T, sc scenario, res []stepResult) {
	t.Helper()
	g, err := readGolden(sc.name)
	if err != nil {
		t.Errorf("golden unusable (run go test ./e2e -run Conformance -update): %v", err)
		return
	}
	if len(g.Steps) != len(res) {
		t.Errorf("golden %s has %d steps, scenario %d: run with -update", sc.name, len(g.Steps), len(res))
		return
	}
	want := normalized(sc, g.Steps, g.PortMin, g.PortMax)
	got := normalized(sc, res, rtpePortMin, rtpePortMax)
	for i := range res {
		for _, d := range ngcmp.Compare(want[i], got[i]) {
			t.Errorf("rtpengine no longer matches golden %s step %s: %s (run with -update if rtpengine changed)", sc.name, res[i].Name, d)
		}
	}
}

// plainDict turns JSON-decoded numbers back into int64.
func plainDict(d ngproto.Dict) ngproto.Dict {
	if d == nil {
		return nil
	}
	m, _ := ngcmp.Plain(map[string]any(d)).(map[string]any)
	return ngproto.Dict(m)
}

func rtpengineVersion() string {
	out, err := execOutput(daemon.RtpenginePath, "--version")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "Version:"))
}

// checkScenarios catches mistakes in the table itself.
func checkScenarios(t *testing.T, scs []scenario) {
	t.Helper()
	seen := map[string]bool{}
	for _, sc := range scs {
		if seen[sc.name] {
			t.Fatalf("duplicate scenario %s", sc.name)
		}
		seen[sc.name] = true
		steps := map[string]bool{}
		for _, st := range sc.steps {
			if steps[st.name] {
				t.Fatalf("scenario %s: duplicate step %s", sc.name, st.name)
			}
			steps[st.name] = true
		}
		for _, a := range sc.allow {
			if a.Reason == "" {
				t.Fatalf("scenario %s: allowance %q without a reason", sc.name, a.Path)
			}
		}
	}
	if len(scs) < 40 {
		t.Fatalf("only %d scenarios", len(scs))
	}
}

// tryMediad starts mediad for an -update run, where it is optional.
func tryMediad(ctx context.Context, t *testing.T) *side {
	ng, cli, err := testport.FreeAddrs()
	if err != nil {
		t.Logf("mediad not compared in -update run: %v", err)
		return nil
	}
	wd, _ := os.Getwd()
	bin := filepath.Join(t.TempDir(), "mediad")
	if err := daemon.BuildMediad(ctx, wd, bin); err != nil {
		t.Logf("mediad not compared in -update run: %v", err)
		return nil
	}
	o := daemon.Options{NG: ng, CLI: cli, PortMin: mediadPortMin, PortMax: mediadPortMax}
	p, err := daemon.Start(ctx, daemon.Spec{Name: "mediad", Path: bin, Args: o.Args(), NGAddr: o.NG})
	if err != nil {
		t.Logf("mediad not compared in -update run: %v", err)
		return nil
	}
	t.Cleanup(p.Stop)
	return newSide(t, "mediad", p, o)
}

func readGolden(name string) (*golden, error) {
	b, err := os.ReadFile(goldenPath(name))
	if err != nil {
		return nil, err
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("golden %s: %w", name, err)
	}
	for i := range g.Steps {
		g.Steps[i].Reply = plainDict(g.Steps[i].Reply)
		g.Steps[i].Request = plainDict(g.Steps[i].Request)
	}
	return &g, nil
}

// sameRun reports whether a stored run and a new one of the same scenario
// are equal after normalisation, requests included.
func sameRun(sc scenario, old, res []stepResult, min, max int) bool {
	if len(old) != len(res) {
		return false
	}
	if len(ngcmp.Compare(normalized(sc, old, min, max), normalized(sc, res, rtpePortMin, rtpePortMax))) > 0 {
		return false
	}
	on, nn := ngcmp.NewNormalizer(min, max), ngcmp.NewNormalizer(rtpePortMin, rtpePortMax)
	for i := range old {
		o, n := old[i], res[i]
		if o.Raw != n.Raw || o.Datagram != n.Datagram || o.Encoding != n.Encoding || o.Reuse != n.Reuse || (o.Request == nil) != (n.Request == nil) {
			return false
		}
		if o.Request != nil && len(ngcmp.Compare(on.Reply(o.Request, ngcmp.Options{}), nn.Reply(n.Request, ngcmp.Options{}))) > 0 {
			return false
		}
	}
	return true
}
