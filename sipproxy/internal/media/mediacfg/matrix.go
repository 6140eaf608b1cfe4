// Package mediacfg holds the media step's configuration: the SRC_WS x
// DST_WS matrix of rtpengine module flag strings (parsed with ngproto's
// OpenSIPS dialect) and the rtpengine-* keys (daemon sockets with weights,
// timeouts). Package config registers the keys; package media uses them.
package mediacfg

import (
	"fmt"
	"strings"

	"sipmedia/ngproto"
)

// Matrix holds the module flag strings, indexed [SRC_WS][DST_WS] with 1 for
// WebSocket. Offer strings shape the SDP sent toward the callee (the
// INVITE's offer, the late ACK's answer); Answer strings shape the SDP
// sent toward the caller (the reply's answer, a late offer in a reply).
type Matrix struct {
	Offer  [2][2]string
	Answer [2][2]string
}

// The seed's strings and the rtcp-mux flags a current Chromium needs: with
// the seed's strings alone rtpengine (and mediad, which follows it) answers
// a browser without a=rtcp-mux after demultiplexing toward the phone, and
// Chromium rejects an answer without it ("The m= section ... is missing
// a=rtcp-mux"). rtcp-mux-demux toward the phone and rtcp-mux-require toward
// the browser keep the browser side muxed (see mediad/internal/webrtc).
const (
	flagsPlain    = "RTP/AVP replace-session-connection replace-origin ICE=remove"
	flagsToPhone  = flagsPlain + " rtcp-mux-demux"
	flagsToWeb    = "UDP/TLS/RTP/SAVPF ICE=force rtcp-mux-require"
	flagsWebToWeb = "ICE=force-relay DTLS=passive"
)

// DefaultMatrix is the seed's matrix plus the rtcp-mux flags.
func DefaultMatrix() Matrix {
	var m Matrix
	m.Offer[1][1] = flagsWebToWeb
	m.Offer[1][0] = flagsToPhone
	m.Offer[0][1] = flagsToWeb
	m.Offer[0][0] = flagsPlain
	m.Answer[1][1] = flagsWebToWeb
	m.Answer[1][0] = flagsToWeb
	m.Answer[0][1] = flagsToPhone
	m.Answer[0][0] = flagsPlain
	return m
}

// Compiled is a Matrix parsed into NG keys, indexed like Matrix.
type Compiled struct {
	Offer, Answer [2][2]ngproto.Dict
}

// Compile parses every flag string.
func (m Matrix) Compile() (*Compiled, error) {
	c := &Compiled{}
	for s := 0; s < 2; s++ {
		for d := 0; d < 2; d++ {
			var err error
			if c.Offer[s][d], err = parseFlags(m.Offer[s][d]); err != nil {
				return nil, fmt.Errorf("offer flags %s: %w", cellName(s, d), err)
			}
			if c.Answer[s][d], err = parseFlags(m.Answer[s][d]); err != nil {
				return nil, fmt.Errorf("answer flags %s: %w", cellName(s, d), err)
			}
		}
	}
	return c, nil
}

func parseFlags(s string) (ngproto.Dict, error) {
	mf, err := ngproto.ParseModuleFlags(s, ngproto.OpenSIPS)
	if err != nil {
		return nil, err
	}
	// The message decides identity and branch; the strings shape the SDP.
	for _, k := range []string{"call-id", "from-tag", "to-tag", "via-branch"} {
		mf.Dict.Delete(k)
	}
	return mf.Dict, nil
}

// cellName names a matrix cell as the config keys do ("ws-udp": SRC_WS
// set, DST_WS not).
func cellName(src, dst int) string {
	n := [2]string{"udp", "ws"}
	return n[src] + "-" + n[dst]
}

// With is m with flag added to every offer and answer string.
func (m Matrix) With(flag string) Matrix {
	for s := range 2 {
		for d := range 2 {
			m.Offer[s][d] = strings.TrimSpace(m.Offer[s][d] + " " + flag)
			m.Answer[s][d] = strings.TrimSpace(m.Answer[s][d] + " " + flag)
		}
	}
	return m
}
