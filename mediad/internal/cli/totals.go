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
	avg, total, stddev := t.DurationStats()
	metric(b, "Average call duration", fmt.Sprintf("%.6f seconds", avg))
	metric(b, "Total calls duration", fmt.Sprintf("%.6f seconds", total))
	metric(b, "Total calls duration squared", fmt.Sprintf("%.6f seconds squared", t.TotalCallDurationSquared))
	metric(b, "Total calls duration standard deviation", fmt.Sprintf("%.6f seconds", stddev))
	b.WriteString("\n\n")

	// The last report to Graphite (zero without --graphite).
	iv := t.Interval
	b.WriteString("Graphite interval statistics (last reported values to graphite):\n")
	metric(b, "Total calls duration", fmt.Sprintf("%.6f seconds", iv.CallsDuration))
	b.WriteString("\n")
	metric(b, "Min managed sessions", u(iv.MinSessions))
	metric(b, "Max managed sessions", u(iv.MaxSessions))
	for _, cmd := range ngCommands {
		d := iv.Delay[cmd[0]]
		metric(b, "Min/Max/Avg "+cmd[0]+" processing delay", fmt.Sprintf("%.6f/%.6f/%.6f sec", d[0], d[1], d[2]))
	}
	for _, cmd := range ngCommands {
		// rtpengine pads to 48 but long names overflow; %-48s reproduces that.
		r := iv.Rate[cmd[0]]
		metric(b, "Min/Max/Avg "+cmd[0]+" requests per second", fmt.Sprintf("%d/%d/%d per sec", r[0], r[1], r[2]))
	}
	b.WriteString("\n\n")

	b.WriteString("MOS statistics:\n\n")
	mosTotal, mos2, mosN, mosAvg, mosDev := t.MOSStats()
	metric(b, "Sum of all MOS values sampled", fmt.Sprintf("%.6f", mosTotal))
	metric(b, "Sum of all MOS square values sampled", fmt.Sprintf("%.6f", mos2))
	metric(b, "Total number of MOS samples", fmt.Sprint(mosN))
	metric(b, "Average MOS", fmt.Sprintf("%.6f", mosAvg))
	metric(b, "MOS standard deviation", fmt.Sprintf("%.6f", mosDev))
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

// DurationStats returns the average, total and standard deviation of the
// durations of ended calls, in seconds (calls still up have none yet).
func (t Totals) DurationStats() (avg, total, stddev float64) {
	total = t.TotalCallDuration.Seconds()
	if t.Ended > 0 {
		avg = total / float64(t.Ended)
		stddev = math.Sqrt(math.Abs(t.TotalCallDurationSquared/float64(t.Ended) - avg*avg))
	}
	return avg, total, stddev
}

// MOSStats are rtpengine's MOS statistics: the sums of the values and
// their squares, the number of samples, their mean and deviation (MOS
// units, not tenths).
func (t Totals) MOSStats() (total, total2 float64, samples uint64, avg, stddev float64) {
	if t.MOSSamples > 0 {
		mean := float64(t.MOSSum) / float64(t.MOSSamples)
		avg = mean / 10
		stddev = math.Sqrt(math.Abs(float64(t.MOSSquares)/float64(t.MOSSamples)-mean*mean)) / 10
	}
	return float64(t.MOSSum) / 10, float64(t.MOSSquares) / 100, t.MOSSamples, avg, stddev
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

// jsonObj writes a JSON object with keys in insertion order and raw values,
// the way rtpengine prints "list jsonstats" (floats as %.6f).
type jsonObj struct {
	b     *strings.Builder
	first bool
}

func openObj(b *strings.Builder) *jsonObj { b.WriteByte('{'); return &jsonObj{b: b, first: true} }

func (o *jsonObj) key(k string) {
	if !o.first {
		o.b.WriteByte(',')
	}
	o.first = false
	fmt.Fprintf(o.b, "%q:", k)
}

func (o *jsonObj) raw(k, v string)      { o.key(k); o.b.WriteString(v) }
func (o *jsonObj) u(k string, v uint64) { o.raw(k, fmt.Sprint(v)) }
func (o *jsonObj) f(k string, v float64) {
	o.raw(k, fmt.Sprintf("%.6f", v))
}
func (o *jsonObj) sub(k string) *jsonObj { o.key(k); return openObj(o.b) }
func (o *jsonObj) close()                { o.b.WriteByte('}') }

func (r *Runner) listJSONStats(_ string, b *strings.Builder) {
	t := r.calls.Totals()
	c := r.calls.Counts()
	top := openObj(b)

	cur := top.sub("currentstatistics")
	cur.u("sessionsown", uint64(c.Own))
	cur.u("sessionsforeign", uint64(c.Foreign))
	cur.u("sessionstotal", uint64(c.Own+c.Foreign))
	cur.u("transcodedmedia", uint64(c.TranscodedMedia))
	cur.u("packetrate_user", t.Rate.Packets)
	cur.u("byterate_user", t.Rate.Bytes)
	cur.u("errorrate_user", t.Rate.Errors)
	cur.u("packetrate_kernel", t.RateKernel.Packets)
	cur.u("byterate_kernel", t.RateKernel.Bytes)
	cur.u("errorrate_kernel", t.RateKernel.Errors)
	cur.u("packetrate", t.Rate.Packets+t.RateKernel.Packets)
	cur.u("byterate", t.Rate.Bytes+t.RateKernel.Bytes)
	cur.u("errorrate", t.Rate.Errors+t.RateKernel.Errors)
	cur.u("media_userspace", uint64(t.UserspaceStreams))
	cur.u("media_kernel", uint64(t.KernelStreams))
	cur.u("media_mixed", uint64(t.MixedStreams))
	cur.close()

	tot := top.sub("totalstatistics")
	tot.u("uptime", uint64(time.Since(r.started)/time.Second))
	tot.u("managedsessions", t.Managed)
	tot.u("rejectedsessions", t.Rejected)
	tot.u("timeoutsessions", t.Timeout)
	tot.u("silenttimeoutsessions", t.SilentTimeout)
	tot.u("finaltimeoutsessions", t.FinalTimeout)
	tot.u("offertimeoutsessions", t.OfferTimeout)
	tot.u("regularterminatedsessions", t.RegularTerminated)
	tot.u("forcedterminatedsessions", t.ForcedTerminated)
	tot.u("relayedpackets_user", t.Relayed.Packets)
	tot.u("relayedpacketerrors_user", t.Relayed.Errors)
	tot.u("relayedbytes_user", t.Relayed.Bytes)
	tot.u("relayedpackets_kernel", t.RelayedKernel.Packets)
	tot.u("relayedpacketerrors_kernel", t.RelayedKernel.Errors)
	tot.u("relayedbytes_kernel", t.RelayedKernel.Bytes)
	tot.u("relayedpackets", t.Relayed.Packets+t.RelayedKernel.Packets)
	tot.u("relayedpacketerrors", t.Relayed.Errors+t.RelayedKernel.Errors)
	tot.u("relayedbytes", t.Relayed.Bytes+t.RelayedKernel.Bytes)
	tot.u("zerowaystreams", t.ZeroWayStreams)
	tot.u("onewaystreams", t.OneWayStreams)
	avg, total, stddev := t.DurationStats()
	tot.f("avgcallduration", avg)
	tot.f("totalcallsduration", total)
	tot.f("totalcallsduration2", t.TotalCallDurationSquared)
	tot.f("totalcallsduration_stddev", stddev)
	tot.close()

	last := t.Interval
	iv := top.sub("intervalstatistics")
	iv.f("totalcallsduration", last.CallsDuration)
	iv.u("minmanagedsessions", last.MinSessions)
	iv.u("maxmanagedsessions", last.MaxSessions)
	for _, cmd := range ngCommands {
		for j, p := range []string{"min", "max", "avg"} {
			iv.f(p+cmd[0]+"delay", last.Delay[cmd[0]][j])
		}
	}
	for _, cmd := range ngCommands {
		for j, p := range []string{"min", "max", "avg"} {
			iv.u(p+cmd[0]+"requestrate", last.Rate[cmd[0]][j])
		}
	}
	iv.close()

	mos := top.sub("mos")
	mosTotal, mos2, mosN, mosAvg, mosDev := t.MOSStats()
	mos.f("mos_total", mosTotal)
	mos.f("mos2_total", mos2)
	mos.u("mos_samples_total", mosN)
	mos.f("mos_average", mosAvg)
	mos.f("mos_stddev", mosDev)
	mos.close()

	ctl := top.sub("controlstatistics")
	ctl.key("proxies")
	b.WriteByte('[')
	totals := map[string]uint64{}
	for i, p := range t.Proxies {
		if i > 0 {
			b.WriteByte(',')
		}
		po := openObj(b)
		po.raw("proxy", fmt.Sprintf("%q", p.Proxy))
		for _, cmd := range ngCommands {
			short := strings.ToLower(cmd[1])
			po.u(short+"count", p.Requests[cmd[1]])
			po.f(short+"duration", 0)
			totals[cmd[1]] += p.Requests[cmd[1]]
		}
		po.u("errorcount", p.Errors)
		po.close()
	}
	b.WriteByte(']')
	for _, cmd := range ngCommands {
		ctl.u("total"+strings.ToLower(cmd[1])+"count", totals[cmd[1]])
	}
	ctl.close()

	top.key("interfaces")
	b.WriteByte('[')
	for i, ifc := range r.cfg.Interfaces {
		if i > 0 {
			b.WriteByte(',')
		}
		min, max, used, total, last := r.portUsage()
		io := openObj(b)
		io.raw("name", fmt.Sprintf("%q", ifc.Name))
		io.raw("address", fmt.Sprintf("%q", ifc.Address.String()))
		po := io.sub("ports")
		po.u("min", uint64(min))
		po.u("max", uint64(max))
		po.u("used", uint64(used))
		po.raw("used_pct", fmt.Sprintf("%.2f", float64(used)*100/float64(total)))
		po.u("free", uint64(total-used))
		po.u("totals", uint64(total))
		po.u("last", uint64(last))
		po.close()
		io.close()
	}
	b.WriteByte(']')
	top.raw("transcoders", "[]")
	top.close()
}
