package relay

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	e := newEngine(t)
	c := newCall(t, e, LearnDelayed)
	sendTo(t, c.phoneA, c.sa.Local(), rtpPacket(1))
	expect(t, c.phoneB, rtpPacket(1), c.sb.Local())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(e))
	want := `
# HELP mediad_relay_packets_total Packets received by the userspace relay.
# TYPE mediad_relay_packets_total counter
mediad_relay_packets_total 1
# HELP mediad_relay_streams Sockets the userspace relay reads.
# TYPE mediad_relay_streams gauge
mediad_relay_streams 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mediad_relay_packets_total", "mediad_relay_streams"); err != nil {
		t.Error(err)
	}
}
