package media

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto"
)

// InfoDTMF turns a SIP INFO carrying a DTMF digit (application/dtmf-relay
// "Signal=5\r\nDuration=160", or application/dtmf "5") into the media
// daemon's play DTMF: the digit goes into the audio its sender sends (the
// call was set up with inject-DTMF), as RFC 4733 events or tones, so that
// a party that takes DTMF in the media only (an IVR behind a phone
// gateway) hears what a browser sent as INFO, JsSIP's default. handled
// is false when the driver relays INFO DTMF, or req carries no digit;
// the router then forwards it. An error leaves the INFO to be forwarded
// as well.
func (d *Driver) InfoDTMF(ctx context.Context, req *sip.Request) (handled bool, err error) {
	if !d.dtmf || req.Method != sip.INFO {
		return false, nil
	}
	digit, ms, ok := infoDigit(req)
	if !ok {
		return false, nil
	}
	id, from, _ := ids(req)
	ng := ngproto.Dict{"command": "play DTMF", "call-id": id, "from-tag": from, "code": digit}
	if ms > 0 {
		ng["duration"] = int64(ms)
	}
	reply, err := d.ng.Do(ctx, ng)
	if err != nil {
		d.Counter.Failures.Add(1)
		return false, mapFailure(err, nil)
	}
	if reply.Result() != "ok" {
		return false, mapFailure(nil, reply)
	}
	if w := reply.Str("warning"); w != "" {
		// mediad says why it plays nothing (a call set up without
		// inject-DTMF, before this proxy started): the INFO goes on.
		return false, fmt.Errorf("media daemon: %s", w)
	}
	return true, nil
}

// infoDigit reads the digit and its duration in milliseconds (0: none
// given) from an INFO's DTMF body.
func infoDigit(req *sip.Request) (digit string, ms int, ok bool) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(h.Value())), ";")
		ct = strings.TrimSpace(ct)
	}
	body := string(req.Body())
	switch ct {
	case "application/dtmf-relay":
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			k, v, found := strings.Cut(sc.Text(), "=")
			if !found {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				digit = v
			case "duration":
				ms, _ = strconv.Atoi(v)
			}
		}
	case "application/dtmf":
		digit = strings.TrimSpace(body)
	default:
		return "", 0, false
	}
	return digit, max(ms, 0), validDigit(digit)
}

// validDigit: one of 0-9 * # A-D, or an event code 0-15 (the daemon
// takes either).
func validDigit(s string) bool {
	if len(s) == 1 && strings.ContainsAny(strings.ToUpper(s), "0123456789*#ABCD") {
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 15
}
