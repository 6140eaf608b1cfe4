package media

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/media/mediacfg"
)

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

// TestInfoDTMFOff: without --info-dtmf=inject, and for an INFO without a
// digit, nothing reaches the media daemon and the INFO is relayed.
func TestInfoDTMFOff(t *testing.T) {
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
