package e2e

import (
	"os/exec"
	"strings"

	"sipmedia/e2e/internal/ngcmp"
	"sipmedia/ngproto"
)

// scenario is one sequence of NG commands sent to both daemons.
type scenario struct {
	name  string
	desc  string
	steps []step
	// allow lists the deliberate differences of this scenario, each with
	// its reason. Everything else that differs fails the test.
	allow []ngcmp.Allowance
}

// step is one datagram. Exactly one of cmd, raw, datagram is set.
type step struct {
	name     string
	cmd      ngproto.Dict // encoded as bencode (or JSON with json)
	json     bool
	raw      string // body sent verbatim after "<cookie> "
	datagram string // whole datagram, no cookie framing added
	sdpFrom  string // replace cmd["sdp"] by this daemon's reply SDP of that step
	reuse    string // resend with the cookie of that earlier step
	// expectNoReply shortens the wait (rtpengine drops such datagrams).
	expectNoReply bool
	// shapeOnly compares keys and value types only.
	shapeOnly bool
}

type kv = map[string]any

func dict(cmd string, fields kv) ngproto.Dict {
	d := ngproto.Dict{"command": cmd}
	for k, v := range fields {
		switch x := v.(type) {
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			d[k] = l
		case int:
			d[k] = int64(x)
		default:
			d[k] = v
		}
	}
	return d
}

func merge(base kv, extra kv) kv {
	out := kv{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// st builds a command step.
func st(name string, d ngproto.Dict) step { return step{name: name, cmd: d} }

func offer(call, from, sdp string, extra kv) ngproto.Dict {
	return dict("offer", merge(kv{"call-id": call, "from-tag": from, "sdp": sdp}, extra))
}

func answer(call, from, to, sdp string, extra kv) ngproto.Dict {
	return dict("answer", merge(kv{"call-id": call, "from-tag": from, "to-tag": to, "sdp": sdp}, extra))
}

func del(call string, extra kv) ngproto.Dict {
	return dict("delete", merge(kv{"call-id": call}, extra))
}

func query(call string, extra kv) ngproto.Dict {
	return dict("query", merge(kv{"call-id": call}, extra))
}

// sdp turns a readable SDP literal (LF lines, leading newline) into wire
// form with CRLF line ends.
func sdp(s string) string {
	s = strings.TrimLeft(s, "\n")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func execOutput(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).Output()
	return string(b), err
}
