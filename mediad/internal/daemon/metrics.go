package daemon

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sipmedia/mediad/internal/cli"
)

// metricsHandler serves mediad's Prometheus metrics (GET /metrics) from a
// registry of its own: only mediad_* families, nothing global.
func metricsHandler(calls cli.Calls, ports cli.PortStats, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatsCollector(calls, ports))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// statsCollector exports what the CLI's "list totals" shows, under
// rtpengine's Prometheus names with the mediad_ prefix. Everything is
// read at scrape time: the packet path never touches a metric.
type statsCollector struct {
	calls cli.Calls
	ports cli.PortStats

	sessions, sessionsTotal, closed         *prometheus.Desc
	packets, bytes, errors, streams         *prometheus.Desc
	portsUsed, portsFree, portsAll, callDur *prometheus.Desc
	portsWarm                               *prometheus.Desc
}

func newStatsCollector(calls cli.Calls, ports cli.PortStats) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("mediad_"+name, help, labels, nil)
	}
	return &statsCollector{
		calls:         calls,
		ports:         ports,
		sessions:      d("sessions", "Current sessions (calls).", "type"),
		sessionsTotal: d("sessions_total", "Sessions created since start."),
		closed:        d("closed_sessions_total", "Sessions ended or refused, by reason.", "reason"),
		packets:       d("packets_total", "Relayed packets.", "type"),
		bytes:         d("bytes_total", "Relayed bytes.", "type"),
		errors:        d("packet_errors_total", "Packets dropped or failed to relay.", "type"),
		streams:       d("mediastreams", "Current media stream sockets by forwarding path.", "type"),
		portsUsed:     d("ports_used", "Media ports in use."),
		portsFree:     d("ports_free", "Media ports free."),
		portsAll:      d("ports", "Media ports in the configured range."),
		portsWarm:     d("ports_warm", "Free media ports whose sockets stay bound for their next call (under churn)."),
		callDur:       d("call_duration_seconds_total", "Summed duration of ended calls."),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.sessionsTotal, c.closed, c.packets, c.bytes,
		c.errors, c.streams, c.portsUsed, c.portsFree, c.portsAll, c.portsWarm, c.callDur} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	t := c.calls.Totals()
	n := c.calls.Counts()

	gauge(c.sessions, float64(n.Own), "own")
	gauge(c.sessions, float64(n.Foreign), "foreign")
	counter(c.sessionsTotal, t.Managed)
	for _, r := range []struct {
		reason string
		v      uint64
	}{
		{"rejected", t.Rejected}, {"timeout", t.Timeout}, {"silent_timeout", t.SilentTimeout},
		{"final_timeout", t.FinalTimeout}, {"offer_timeout", t.OfferTimeout},
		{"terminated", t.RegularTerminated}, {"force_terminated", t.ForcedTerminated},
	} {
		counter(c.closed, r.v, r.reason)
	}
	for _, p := range []struct {
		typ string
		k   cli.Counters
	}{{"userspace", t.Relayed}, {"kernel", t.RelayedKernel}} {
		counter(c.packets, p.k.Packets, p.typ)
		counter(c.bytes, p.k.Bytes, p.typ)
		counter(c.errors, p.k.Errors, p.typ)
	}
	ch <- prometheus.MustNewConstMetric(c.callDur, prometheus.CounterValue, t.TotalCallDuration.Seconds())

	// Every port in use is one stream socket (RTP or RTCP); those not
	// handed to the kernel are read in userspace.
	kernel := t.KernelStreams
	gauge(c.streams, float64(kernel), "kernel")
	if c.ports != nil {
		used, total := c.ports.InUse(), c.ports.Total()
		gauge(c.streams, float64(max(used-kernel, 0)), "userspace")
		gauge(c.portsUsed, float64(used))
		gauge(c.portsFree, float64(total-used))
		gauge(c.portsAll, float64(total))
		gauge(c.portsWarm, float64(2*c.ports.Warm())) // Warm counts pairs
	}
}
