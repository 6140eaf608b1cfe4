package e2e

import (
	"testing"

	"sipmedia/e2e/internal/daemon"
)

// TestCallsInfoDTMF: sipproxy with --info-dtmf=inject, on rtpengine and
// on mediad, plays a caller's SIP INFO DTMF (JsSIP's default) into its
// audio, as the Kamailio script of TestCallsKamailioPlayDTMF does: the
// callee receives RFC 4733 events.
func TestCallsInfoDTMF(t *testing.T) {
	for i, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) {
			base := callsMediadB + 500*i
			_, opts := daemon.ByNameTB(t, name, daemon.Options{PortMin: base, PortMax: base + 499})
			checkInfoDTMF(t, opts.NG, startProxy(t, []string{opts.NG}, "--info-dtmf=inject"), true)
		})
	}
}
