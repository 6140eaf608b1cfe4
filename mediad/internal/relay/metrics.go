package relay

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the engine's counters to Prometheus, read at scrape
// time (the packet path never touches a Prometheus metric).
type Collector struct {
	e                               *Engine
	packets, bytes, errors, streams *prometheus.Desc
}

// NewCollector returns a collector for e; register it with a registry.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("mediad", "relay", name), help, nil, nil)
	}
	return &Collector{
		e:       e,
		packets: d("packets_total", "Packets received by the userspace relay."),
		bytes:   d("bytes_total", "Bytes received by the userspace relay."),
		errors:  d("errors_total", "Packets dropped (strict source, loop protection, failed sends) by the userspace relay."),
		streams: d("streams", "Sockets the userspace relay reads."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.bytes
	ch <- c.errors
	ch <- c.streams
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	t := c.e.Totals()
	ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(t.Packets))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.Bytes))
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(t.Errors))
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(c.e.NumStreams()))
}
