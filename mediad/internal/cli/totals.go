package cli

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ngCommands are rtpengine 10.5's NG command names in its statistics
// order: long form for the interval lines, short form for the table.
var ngCommands = [][2]string{
	{"ping", "Ping"}, {"offer", "Offer"}, {"answer", "Answer"}, {"delete", "Delete"},
	{"query", "Query"}, {"list", "List"}, {"start recording", "StartRec"},
	{"stop recording", "StopRec"}, {"start forwarding", "StartFwd"},
	{"stop forwarding", "StopFwd"}, {"block DTMF", "BlkDTMF"}, {"unblock DTMF", "UnblkDTMF"},
	{"block media", "BlkMedia"}, {"unblock media", "UnblkMedia"}, {"play media", "PlayMedia"},
	{"stop media", "StopMedia"}, {"play DTMF", "PlayDTMF"}, {"statistics", "Stats"},
	{"silence media", "SlnMedia"}, {"unsilence media", "UnslnMedia"}, {"publish", "Pub"},
	{"subscribe request", "SubReq"}, {"subscribe answer", "SubAns"}, {"unsubscribe", "Unsub"},
}

func metric(b *strings.Builder, descr, val string) {
	fmt.Fprintf(b, " %-48s:%s\n", descr, val)
}

func (r *Runner) listTotals(_ string, b *strings.Builder) {
	t := r.calls.Totals()
	c := r.calls.Counts()
	u := func(v uint64) string { return fmt.Sprint(v) }
	i := func(v int) string { return fmt.Sprint(v) }

	b.WriteString("\nStatistics over currently running sessions:\n\n")
	metric(b, "Owned sessions", i(c.Own))
	metric(b, "Foreign sessions", i(c.Foreign))
	metric(b, "Total sessions", i(c.Own+c.Foreign))
	metric(b, "Transcoded media", i(c.TranscodedMedia))
	writeRates(b, t)
	metric(b, "Userspace-only media streams", i(t.UserspaceStreams))
	metric(b, "Kernel-only media streams", i(t.KernelStreams))
	metric(b, "Mixed kernel/userspace media streams", i(t.MixedStreams))

	b.WriteString("\nTotal statistics (does not include current running sessions):\n\n")
	metric(b, "Uptime of rtpengine", fmt.Sprintf("%d seconds", int64(time.Since(r.started)/time.Second)))
	metric(b, "Total managed sessions", u(t.Managed))
	metric(b, "Total rejected sessions", u(t.Rejected))
	metric(b, "Total timed-out sessions via TIMEOUT", u(t.Timeout))
	metric(b, "Total timed-out sessions via SILENT_TIMEOUT", u(t.SilentTimeout))
	metric(b, "Total timed-out sessions via FINAL_TIMEOUT", u(t.FinalTimeout))
	metric(b, "Total timed-out sessions via OFFER_TIMEOUT", u(t.OfferTimeout))
	metric(b, "Total regular terminated sessions", u(t.RegularTerminated))
	metric(b, "Total forced terminated sessions", u(t.ForcedTerminated))
	metric(b, "Total relayed packets (userspace)", u(t.Relayed.Packets))
	metric(b, "Total relayed packet errors (userspace)", u(t.Relayed.Errors))
	metric(b, "Total relayed bytes (userspace)", u(t.Relayed.Bytes))
	metric(b, "Total relayed packets (kernel)", u(t.RelayedKernel.Packets))
	metric(b, "Total relayed packet errors (kernel)", u(t.RelayedKernel.Errors))
	metric(b, "Total relayed bytes (kernel)", u(t.RelayedKernel.Bytes))
	metric(b, "Total relayed packets", u(t.Relayed.Packets+t.RelayedKernel.Packets))
	metric(b, "Total relayed packet errors", u(t.Relayed.Errors+t.RelayedKernel.Errors))
	metric(b, "Total relayed bytes", u(t.Relayed.Bytes+t.RelayedKernel.Bytes))
	metric(b, "Total number of streams with no relayed packets", u(t.ZeroWayStreams))
	metric(b, "Total number of 1-way streams", u(t.OneWayStreams))
	total := t.TotalCallDuration.Seconds()
	avg, stddev := 0.0, 0.0
	if t.Managed > 0 {
		avg = total / float64(t.Managed)
		stddev = math.Sqrt(math.Abs(t.TotalCallDurationSquared/float64(t.Managed) - avg*avg))
	}
	metric(b, "Average call duration", fmt.Sprintf("%.6f seconds", avg))
	metric(b, "Total calls duration", fmt.Sprintf("%.6f seconds", total))
	metric(b, "Total calls duration squared", fmt.Sprintf("%.6f seconds squared", t.TotalCallDurationSquared))
	metric(b, "Total calls duration standard deviation", fmt.Sprintf("%.6f seconds", stddev))
	b.WriteString("\n\n")

	// mediad reports to no graphite server: the interval values stay zero.
	b.WriteString("Graphite interval statistics (last reported values to graphite):\n")
	metric(b, "Total calls duration", "0.000000 seconds")
	b.WriteString("\n")
	metric(b, "Min managed sessions", "0")
	metric(b, "Max managed sessions", "0")
	for _, cmd := range ngCommands {
		metric(b, "Min/Max/Avg "+cmd[0]+" processing delay", "0.000000/0.000000/0.000000 sec")
	}
	for _, cmd := range ngCommands {
		// rtpengine pads to 48 but long names overflow; %-48s reproduces that.
		metric(b, "Min/Max/Avg "+cmd[0]+" requests per second", "0/0/0 per sec")
	}
	b.WriteString("\n\n")

	b.WriteString("MOS statistics:\n\n")
	metric(b, "Sum of all MOS values sampled", "0.000000")
	metric(b, "Sum of all MOS square values sampled", "0.000000")
	metric(b, "Total number of MOS samples", "0")
	metric(b, "Average MOS", "0.000000")
	metric(b, "MOS standard deviation", "0.000000")
	b.WriteString("\n\n")

	b.WriteString("Control statistics:\n\n")
	fmt.Fprintf(b, " %20s ", "Proxy")
	for _, cmd := range ngCommands {
		fmt.Fprintf(b, "| %10s ", cmd[1])
	}
	b.WriteString("\n")
	for _, p := range t.Proxies {
		fmt.Fprintf(b, " %20s ", p.Proxy)
		for _, cmd := range ngCommands {
			fmt.Fprintf(b, "| %10d ", p.Requests[cmd[1]])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n\n\n\n")
}

func writeRates(b *strings.Builder, t Totals) {
	u := func(v uint64) string { return fmt.Sprint(v) }
	metric(b, "Packets per second (userspace)", u(t.Rate.Packets))
	metric(b, "Bytes per second (userspace)", u(t.Rate.Bytes))
	metric(b, "Errors per second (userspace)", u(t.Rate.Errors))
	metric(b, "Packets per second (kernel)", u(t.RateKernel.Packets))
	metric(b, "Bytes per second (kernel)", u(t.RateKernel.Bytes))
	metric(b, "Errors per second (kernel)", u(t.RateKernel.Errors))
	metric(b, "Packets per second (total)", u(t.Rate.Packets+t.RateKernel.Packets))
	metric(b, "Bytes per second (total)", u(t.Rate.Bytes+t.RateKernel.Bytes))
	metric(b, "Errors per second (total)", u(t.Rate.Errors+t.RateKernel.Errors))
}

func (r *Runner) listCounters(_ string, b *strings.Builder) {
	b.WriteString("\nCurrent per-second counters:\n\n")
	writeRates(b, r.calls.Totals())
}
