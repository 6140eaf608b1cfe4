package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/ports"
	"sipmedia/ngproto"
)

// The files in testdata/ are rtpengine 10.5's own replies, recorded by
// sending each step to `rtpengine --config-file=none -t -1 -i 127.0.0.1
// -i ::1 --delete-delay=0` and normalising random values the way
// rtpengine's test suite does (PORT, ICEUFRAG, ICEPWD, ICEBASE, LOOPER).
// Each step is
//
//	>>> {NG request as JSON, without sdp}
//	input SDP (optional)
//	<<< ok | ok warning <text> | error <reason> | pong | ok {json}
//	expected SDP (optional)
//
// deviations lists the steps where mediad deliberately differs, with the
// reason; they are checked for their result only.
var deviations = map[string]string{
	// rtpengine 10.5 ignores "fast" and returns statistics for any delete
	// naming a from-tag; newer rtpengine (and mediad) honour it (#1045).
	"delete_tags#5": "fast suppresses statistics",
	// rtpengine 10.5 ignores rtcp-mux given as a plain string; newer
	// rtpengine (and mediad) accept a string wherever a list is expected.
	"rtcpmux_string#1": "rtcp-mux as a string is honoured",
}

type step struct {
	req    ngproto.Dict
	sdp    string
	result string // first line after <<<
	want   []string
}

func parseGolden(t *testing.T, text string) []step {
	t.Helper()
	var steps []step
	var cur *step
	inWant := false
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, ">>> "):
			steps = append(steps, step{})
			cur = &steps[len(steps)-1]
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(line[4:]))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("bad request line %q: %v", line, err)
			}
			cur.req = toDict(m)
			inWant = false
		case strings.HasPrefix(line, "<<< "):
			cur.result = line[4:]
			inWant = true
		case inWant:
			cur.want = append(cur.want, line)
		default:
			cur.sdp += line + "\r\n"
		}
	}
	return steps
}

func toDict(m map[string]any) ngproto.Dict {
	d := ngproto.Dict{}
	for k, v := range m {
		d[k] = toValue(v)
	}
	return d
}

func toValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return toDict(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toValue(e)
		}
		return out
	case json.Number:
		n, _ := x.Int64()
		return n
	}
	return v
}

var placeholders = strings.NewReplacer(
	"PORT", `\d{1,5}`,
	"ICEUFRAG", `[A-Za-z0-9]{8}`,
	"ICEPWD", `[A-Za-z0-9]{26}`,
	"ICEBASE", `[A-Za-z0-9]{16}`,
	"LOOPER", `[0-9a-f]{12}`,
)

func lineRegexp(want string) *regexp.Regexp {
	return regexp.MustCompile("^" + placeholders.Replace(regexp.QuoteMeta(want)) + "$")
}

// newTestRegistry builds a registry on loopback with the interfaces the
// goldens were recorded with.
func newTestRegistry(t testing.TB, minPort, maxPort int) (*call.Registry, *ports.Allocator) {
	t.Helper()
	return newTestRegistryWith(t, minPort, maxPort, nil)
}

// newTestRegistryWith is newTestRegistry with the configuration changed
// by adjust first (if not nil).
func newTestRegistryWith(t testing.TB, minPort, maxPort int, adjust func(*call.Config)) (*call.Registry, *ports.Allocator) {
	t.Helper()
	alloc, err := ports.New(minPort, maxPort, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := call.Config{
		Interfaces: []call.Interface{
			{Name: "default", Address: netip.MustParseAddr("127.0.0.1")},
			{Name: "default", Address: netip.MustParseAddr("::1")},
		},
		PortMin: minPort, PortMax: maxPort,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	reg := call.NewRegistry(cfg, alloc, nil)
	t.Cleanup(reg.Close)
	return reg, alloc
}

// onWire returns the reply as a client decodes it: parts of it are written
// as bencode already (ngproto.Bencoded).
func onWire(t *testing.T, reply ngproto.Dict) ngproto.Dict {
	t.Helper()
	b, err := ngproto.EncodeBody(reply, ngproto.Bencode)
	if err != nil {
		t.Fatalf("encode reply: %v", err)
	}
	d, _, err := ngproto.DecodeBody(b)
	if err != nil {
		t.Fatalf("decode reply %q: %v", b, err)
	}
	return d
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) < 25 {
		t.Fatalf("only %d golden files", len(files))
	}
	reg, alloc := newTestRegistry(t, 44000, 44999)
	h := NewHandler(reg, nil, nil)
	from := netip.MustParseAddrPort("127.0.0.1:5060")
	total := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			for i, st := range parseGolden(t, string(b)) {
				total++
				req := st.req.Clone()
				if st.sdp != "" {
					req["sdp"] = st.sdp
				}
				reply := onWire(t, h.ServeNG(context.Background(), req, from))
				label := fmt.Sprintf("%s#%d %v", name, i+1, st.req)
				if why, ok := deviations[fmt.Sprintf("%s#%d", name, i+1)]; ok {
					t.Logf("%s: deliberate deviation (%s)", label, why)
					if reply.Str("result") != strings.Fields(st.result)[0] {
						t.Errorf("%s: result %v, want %s", label, reply, st.result)
					}
					continue
				}
				checkReply(t, label, reply, st)
			}
		})
	}
	reg.TerminateAll()
	if n := alloc.InUse(); n != 0 {
		t.Errorf("%d ports still in use after terminating all calls", n)
	}
	t.Logf("%d golden steps", total)
}

func checkReply(t *testing.T, label string, reply ngproto.Dict, st step) {
	t.Helper()
	res := st.result
	switch {
	case res == "pong":
		if reply.Str("result") != "pong" {
			t.Errorf("%s: got %v, want pong", label, reply)
		}
	case strings.HasPrefix(res, "error "):
		if reply.Str("result") != "error" || reply.Str("error-reason") != res[6:] {
			t.Errorf("%s: got %v, want error %q", label, reply, res[6:])
		}
	case strings.HasPrefix(res, "ok warning "):
		if reply.Str("result") != "ok" || reply.Str("warning") != res[11:] {
			t.Errorf("%s: got %v, want warning %q", label, reply, res[11:])
		}
	case strings.HasPrefix(res, "ok {"):
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(res[3:]))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		got := reply.Clone()
		delete(got, "result")
		if diff := shapeDiff("", toDict(m), got); diff != "" {
			t.Errorf("%s: reply differs: %s", label, diff)
		}
	case res == "ok":
		if reply.Str("result") != "ok" {
			t.Fatalf("%s: got %v, want ok", label, reply)
		}
		if len(st.want) == 0 {
			if _, has := reply["sdp"]; has || len(reply) != 1 {
				t.Errorf("%s: got %v, want a bare ok", label, reply)
			}
			return
		}
		got := strings.Split(strings.TrimSuffix(reply.Str("sdp"), "\r\n"), "\r\n")
		ok := len(got) == len(st.want)
		for i := 0; ok && i < len(got); i++ {
			ok = lineRegexp(st.want[i]).MatchString(got[i])
		}
		if !ok {
			t.Errorf("%s: SDP differs\n--- got\n%s\n--- want\n%s", label, strings.Join(got, "\n"), strings.Join(st.want, "\n"))
		}
	default:
		t.Fatalf("%s: unknown expectation %q", label, res)
	}
}

// volatile are statistics keys whose values are times or port numbers.
var volatile = map[string]bool{
	"created": true, "created_us": true, "last signal": true, "last packet": true, "local port": true,
}

// shapeDiff compares want and got structurally: same keys, same list
// lengths, same values except for volatile keys, where only the type must
// match.
func shapeDiff(path string, want, got any) string {
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
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: extra key %q", path, k)
			}
			if d := shapeDiff(path+"/"+k, w[k], g[k]); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if d := shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
	default:
		key := path[strings.LastIndexByte(path, '/')+1:]
		if volatile[key] {
			if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
				return fmt.Sprintf("%s: got %T, want %T", path, got, want)
			}
			return ""
		}
		if fmt.Sprint(want) != fmt.Sprint(got) || fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
			return fmt.Sprintf("%s: got %v (%T), want %v (%T)", path, got, got, want, want)
		}
	}
	return ""
}

var _ = time.Second
