package control

import (
	"fmt"
	"sync"
	"time"

	"sipmedia/mediad/internal/cli"
	"sipmedia/mediad/internal/graphite"
)

// intervalStats are rtpengine's "Graphite interval statistics": what
// happened between two reports to the Graphite server, which the CLI's
// "list totals" and the NG "statistics" show until the next report.
type intervalStats struct {
	mu sync.Mutex
	// Per command (statCommands' order): processing times of this
	// interval, and the per-second request rates sampled by Tick.
	delay [len24]minMaxSum[time.Duration]
	rate  [len24]minMaxSum[uint64]
	// count is every command's total; seen its value at the last Tick.
	count, seen [len24]uint64
	sessions    minMaxSum[uint64]
	start       time.Time  // of this interval
	prev        cli.Totals // at its start
	last        cli.Interval
}

// len24 is the number of NG commands rtpengine 10.5 keeps statistics for
// (statCommands; a test holds them equal).
const len24 = 24

// minMaxSum accumulates samples.
type minMaxSum[T time.Duration | uint64] struct {
	min, max, sum T
	n             uint64
}

func (m *minMaxSum[T]) add(v T) {
	if m.n == 0 || v < m.min {
		m.min = v
	}
	if v > m.max {
		m.max = v
	}
	m.sum += v
	m.n++
}

func (m *minMaxSum[T]) avg() T {
	if m.n == 0 {
		return 0
	}
	return m.sum / T(m.n)
}

var cmdIndex = func() map[string]int {
	m := make(map[string]int, len(statCommands))
	for i, sc := range statCommands {
		m[sc.cmd] = i
	}
	return m
}()

// command records one handled request.
func (s *intervalStats) command(cmd string, d time.Duration) {
	i, ok := cmdIndex[cmd]
	if !ok {
		return
	}
	s.mu.Lock()
	s.delay[i].add(d)
	s.count[i]++
	s.mu.Unlock()
}

// tick samples the second that ended at now: each command's requests in
// it, and the number of calls.
func (s *intervalStats) tick(sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.count {
		s.rate[i].add(s.count[i] - s.seen[i])
		s.seen[i] = s.count[i]
	}
	s.sessions.add(uint64(sessions))
}

// Graphite is the Graphite report source of a handler (graphite.Source).
type Graphite struct{ h *Handler }

// Graphite returns the handler's Graphite report source.
func (h *Handler) Graphite() *Graphite {
	s := h.stats.interval
	t := NewCLICalls(h.reg, h).Totals() // outside s.mu, which Totals takes
	s.mu.Lock()
	if s.start.IsZero() {
		s.start, s.prev = time.Now(), t
	}
	s.mu.Unlock()
	return &Graphite{h: h}
}

// Tick implements graphite.Source.
func (g *Graphite) Tick(time.Time) { g.h.stats.interval.tick(g.h.reg.Len()) }

// Report implements graphite.Source: rtpengine 10.5's lines
// (daemon/graphite.c), in its order and spelling, command names with
// their blanks included.
func (g *Graphite) Report(now time.Time) []graphite.Line {
	h := g.h
	all := h.reg.All()
	t, counts := NewCLICalls(h.reg, h).Totals(), countCalls(all)
	s := h.stats.interval
	s.mu.Lock()
	prev, start := s.prev, s.start
	iv := cli.Interval{Reported: true, Delay: map[string][3]float64{}, Rate: map[string][3]uint64{},
		MinSessions: s.sessions.min, MaxSessions: s.sessions.max}
	var lines []graphite.Line
	add := func(name, value string) { lines = append(lines, graphite.Line{Name: name, Value: value}) }
	for i, sc := range statCommands {
		d, r := &s.delay[i], &s.rate[i]
		iv.Delay[sc.cmd] = [3]float64{d.min.Seconds(), d.max.Seconds(), d.avg().Seconds()}
		iv.Rate[sc.cmd] = [3]uint64{r.min, r.max, r.avg()}
		add(sc.cmd+"_time_min", secs(d.min))
		add(sc.cmd+"_time_max", secs(d.max))
		add(sc.cmd+"_time_avg", secs(d.avg()))
		add(sc.cmd+"s_ps_min", fmt.Sprint(r.min))
		add(sc.cmd+"s_ps_max", fmt.Sprint(r.max))
		add(sc.cmd+"s_ps_avg", fmt.Sprint(r.avg()))
		add(sc.cmd+"_count", fmt.Sprint(s.count[i]))
		s.delay[i], s.rate[i] = minMaxSum[time.Duration]{}, minMaxSum[uint64]{}
	}
	s.sessions = minMaxSum[uint64]{}
	s.start, s.prev = now, t
	s.mu.Unlock()

	// Calls in progress, for the part of the interval they lasted.
	span := now.Sub(start)
	var inCalls time.Duration
	for _, c := range all {
		if c.Created.Before(start) {
			inCalls += span
		} else {
			inCalls += now.Sub(c.Created)
		}
	}
	iv.CallsDuration = inCalls.Seconds()
	ended := t.Ended - prev.Ended
	avgDur := time.Duration(0)
	if ended > 0 {
		avgDur = (t.TotalCallDuration - prev.TotalCallDuration) / time.Duration(ended)
	}
	d := func(a, b uint64) string { return fmt.Sprint(a - b) }
	add("call_dur", decimal6(iv.CallsDuration))
	add("average_call_dur", secs(avgDur))
	add("forced_term_sess", d(t.ForcedTerminated, prev.ForcedTerminated))
	// rtpengine prints its per-second accumulator here, mostly 0; the
	// calls taken on in the interval say what the name means.
	add("managed_sess", d(t.Managed, prev.Managed))
	add("managed_sess_min", fmt.Sprint(iv.MinSessions))
	add("managed_sess_max", fmt.Sprint(iv.MaxSessions))
	add("current_sessions_total", fmt.Sprint(counts.Own))
	add("current_sessions_own", fmt.Sprint(counts.Own))
	add("current_sessions_foreign", "0")
	add("current_transcoded_media", "0")
	add("current_sessions_ipv4", fmt.Sprint(counts.IPv4Only))
	add("current_sessions_ipv6", fmt.Sprint(counts.IPv6Only))
	add("current_sessions_mixed", fmt.Sprint(counts.Mixed))
	add("nopacket_relayed_sess", d(t.ZeroWayStreams, prev.ZeroWayStreams))
	add("oneway_stream_sess", d(t.OneWayStreams, prev.OneWayStreams))
	add("regular_term_sess", d(t.RegularTerminated, prev.RegularTerminated))
	add("relayed_errors_user", d(t.Relayed.Errors, prev.Relayed.Errors))
	add("relayed_packets_user", d(t.Relayed.Packets, prev.Relayed.Packets))
	add("relayed_bytes_user", d(t.Relayed.Bytes, prev.Relayed.Bytes))
	add("relayed_errors_kernel", d(t.RelayedKernel.Errors, prev.RelayedKernel.Errors))
	add("relayed_packets_kernel", d(t.RelayedKernel.Packets, prev.RelayedKernel.Packets))
	add("relayed_bytes_kernel", d(t.RelayedKernel.Bytes, prev.RelayedKernel.Bytes))
	add("relayed_errors", d(t.Relayed.Errors+t.RelayedKernel.Errors, prev.Relayed.Errors+prev.RelayedKernel.Errors))
	add("relayed_packets", d(t.Relayed.Packets+t.RelayedKernel.Packets, prev.Relayed.Packets+prev.RelayedKernel.Packets))
	add("relayed_bytes", d(t.Relayed.Bytes+t.RelayedKernel.Bytes, prev.Relayed.Bytes+prev.RelayedKernel.Bytes))
	add("silent_timeout_sess", d(t.SilentTimeout, prev.SilentTimeout))
	add("final_timeout_sess", d(t.FinalTimeout, prev.FinalTimeout))
	add("offer_timeout_sess", d(t.OfferTimeout, prev.OfferTimeout))
	add("timeout_sess", d(t.Timeout, prev.Timeout))
	add("reject_sess", d(t.Rejected, prev.Rejected))
	// Ports of every interface address, as rtpengine lists them (one
	// port pool for every address here).
	cfg := h.reg.Config()
	total := cfg.PortMax - cfg.PortMin + 1
	used := h.reg.PortsInUse()
	for _, i := range cfg.Interfaces {
		add("ports_free_"+i.Name+"_"+i.Address.String(), fmt.Sprint(total-used))
		add("ports_used_"+i.Name+"_"+i.Address.String(), fmt.Sprint(used))
	}

	s.mu.Lock()
	s.last = iv
	s.mu.Unlock()
	return lines
}

// lastInterval is the last report's interval statistics (zero before
// the first).
func (s *intervalStats) lastInterval() cli.Interval {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
