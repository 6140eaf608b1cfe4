package media

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto"
	"sipmedia/sipproxy/internal/media/mediacfg"
)

// replyNG answers every request with one reply.
type replyNG struct{ r ngproto.Dict }

func (n replyNG) Do(context.Context, ngproto.Dict) (ngproto.Dict, error) { return n.r, nil }
func (replyNG) BackendFor(string) (string, bool)                         { return "", true }
func (replyNG) AnyAlive() bool                                           { return true }

func infoReq(t *testing.T, ct, body string) *sip.Request {
	t.Helper()
	req := invite(t, msgSpec{method: "INFO", fromTag: "a", toTag: "b", callID: "c", via: "x"})
	if ct != "" {
		h := sip.ContentTypeHeader(ct)
		req.AppendHeader(&h)
	}
	req.SetBody([]byte(body))
	return req
}

// TestInfoDigit: the DTMF bodies INFO carries (Cisco's dtmf-relay and the
// bare digit), with their durations; anything else is no digit.
func TestInfoDigit(t *testing.T) {
	for _, c := range []struct {
		ct, body string
		digit    string
		ms       int
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5", 160, true},
		{"Application/DTMF-Relay; charset=x", "signal = #\nduration= 250", "#", 250, true},
		{"application/dtmf-relay", "Signal=11\r\n", "11", 0, true},
		{"application/dtmf-relay", "Signal=D\r\nDuration=-4\r\n", "D", 0, true},
		{"application/dtmf", " * \r\n", "*", 0, true},
		{"application/dtmf-relay", "Signal=16\r\n", "16", 0, false},
		{"application/dtmf-relay", "Signal=xy\r\n", "xy", 0, false},
		{"application/dtmf-relay", "Duration=100\r\n", "", 100, false},
		{"application/sdp", "v=0\r\n", "", 0, false},
		{"", "Signal=5", "", 0, false},
	} {
		d, ms, ok := infoDigit(infoReq(t, c.ct, c.body))
		if d != c.digit || ms != c.ms || ok != c.ok {
			t.Errorf("%q %q: %q %d %v, want %q %d %v", c.ct, c.body, d, ms, ok, c.digit, c.ms, c.ok)
		}
	}
}

// TestInfoDTMFRelayed: without --info-dtmf=inject, and for an INFO
// without a digit, nothing reaches the media daemon and the INFO is
// relayed; so it is when the daemon plays nothing; a played digit ends
// the INFO.
func TestInfoDTMFRelayed(t *testing.T) {
	for _, on := range []bool{false, true} {
		ng := &countingNG{NG: nopNG{}}
		d, err := New(ng, Config{InfoDTMF: on})
		if err != nil {
			t.Fatal(err)
		}
		body := "Signal=5\r\n"
		if on {
			body = "no digit"
		}
		handled, err := d.InfoDTMF(t.Context(), infoReq(t, "application/dtmf-relay", body))
		if handled || err != nil || ng.n != 0 {
			t.Errorf("info-dtmf %v: handled %v, err %v, %d NG requests", on, handled, err, ng.n)
		}
	}
	// A daemon that plays nothing (mediad's warning: a call set up
	// without inject-DTMF), or refuses: the INFO is relayed.
	for _, r := range []ngproto.Dict{
		{"result": "ok", "warning": "Call not set up for DTMF injection"},
		{"result": "error", "error-reason": "Unknown call-ID"},
	} {
		d, err := New(replyNG{r}, Config{InfoDTMF: true})
		if err != nil {
			t.Fatal(err)
		}
		if handled, err := d.InfoDTMF(t.Context(), infoReq(t, "application/dtmf-relay", "Signal=5\r\n")); handled || err == nil {
			t.Errorf("reply %v: handled %v, err %v; want relayed with an error", r, handled, err)
		}
	}
	if handled, err := (&Driver{ng: replyNG{ngproto.OK()}, dtmf: true}).InfoDTMF(t.Context(), infoReq(t, "application/dtmf", "5")); !handled || err != nil {
		t.Errorf("played digit: handled %v, err %v", handled, err)
	}
	m := mediacfg.DefaultMatrix().With("inject-DTMF")
	for s := range 2 {
		for k := range 2 {
			if !strings.HasSuffix(m.Offer[s][k], " inject-DTMF") || !strings.HasSuffix(m.Answer[s][k], " inject-DTMF") {
				t.Errorf("matrix cell %d%d: %q / %q", s, k, m.Offer[s][k], m.Answer[s][k])
			}
		}
	}
	st := mediacfg.DefaultSettings()
	st.InfoDTMF = "sometimes"
	if err := st.Validate(); err == nil {
		t.Error("info-dtmf sometimes accepted")
	}
}
