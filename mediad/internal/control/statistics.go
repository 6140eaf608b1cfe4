package control

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"sipmedia/mediad/internal/cli"
	"sipmedia/ngproto"
)

// statCommands are rtpengine's per-command statistics names: the NG
// command and its short name in controlstatistics (in rtpengine's order).
var statCommands = []struct{ cmd, short, cli string }{
	{"ping", "ping", "Ping"}, {"offer", "offer", "Offer"}, {"answer", "answer", "Answer"},
	{"delete", "delete", "Delete"}, {"query", "query", "Query"}, {"list", "list", "List"},
	{"start recording", "startrec", "StartRec"}, {"stop recording", "stoprec", "StopRec"},
	{"start forwarding", "startfwd", "StartFwd"}, {"stop forwarding", "stopfwd", "StopFwd"},
	{"block DTMF", "blkdtmf", "BlkDTMF"}, {"unblock DTMF", "unblkdtmf", "UnblkDTMF"},
	{"block media", "blkmedia", "BlkMedia"}, {"unblock media", "unblkmedia", "UnblkMedia"},
	{"play media", "playmedia", "PlayMedia"}, {"stop media", "stopmedia", "StopMedia"},
	{"play DTMF", "playdtmf", "PlayDTMF"}, {"statistics", "stats", "Stats"},
	{"silence media", "slnmedia", "SlnMedia"}, {"unsilence media", "unslnmedia", "UnslnMedia"},
	{"publish", "pub", "Pub"}, {"subscribe request", "subreq", "SubReq"},
	{"subscribe answer", "subans", "SubAns"}, {"unsubscribe", "unsub", "Unsub"},
}

type cmdStat struct {
	count    int64
	duration time.Duration
}

type proxyStat struct {
	cmds   map[string]*cmdStat
	errors int64
}

// ctlStats counts requests per proxy and command ("controlstatistics"),
// and for the interval between Graphite reports.
type ctlStats struct {
	mu       sync.Mutex
	proxies  map[string]*proxyStat
	interval *intervalStats
}

func newCtlStats() *ctlStats {
	return &ctlStats{proxies: map[string]*proxyStat{}, interval: &intervalStats{}}
}

func (s *ctlStats) record(from netip.AddrPort, cmd string, d time.Duration, isErr bool) {
	s.interval.command(cmd, d)
	key := from.Addr().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proxies[key]
	if p == nil {
		p = &proxyStat{cmds: map[string]*cmdStat{}}
		s.proxies[key] = p
	}
	if isErr {
		p.errors++
	}
	c := p.cmds[cmd]
	if c == nil {
		c = &cmdStat{}
		p.cmds[cmd] = c
	}
	c.count++
	c.duration += d
}

// secs and decimal6 write seconds and other floats as rtpengine does.
func secs(d time.Duration) string { return decimal6(d.Seconds()) }
func decimal6(v float64) string   { return fmt.Sprintf("%.6f", v) }

// statistics renders the "statistics" reply in rtpengine's shape, from
// the same totals as the CLI's "list totals" and "list jsonstats".
func (h *Handler) statistics() ngproto.Dict {
	t := NewCLICalls(h.reg, h).Totals()
	n := int64(h.reg.Len())
	i := func(v uint64) int64 { return int64(v) }
	current := ngproto.Dict{
		"sessionsown": n, "sessionsforeign": int64(0), "sessionstotal": n, "transcodedmedia": int64(0),
		"packetrate_user": i(t.Rate.Packets), "byterate_user": i(t.Rate.Bytes), "errorrate_user": i(t.Rate.Errors),
		"packetrate_kernel": i(t.RateKernel.Packets), "byterate_kernel": i(t.RateKernel.Bytes), "errorrate_kernel": i(t.RateKernel.Errors),
		"packetrate": i(t.Rate.Packets + t.RateKernel.Packets), "byterate": i(t.Rate.Bytes + t.RateKernel.Bytes),
		"errorrate":       i(t.Rate.Errors + t.RateKernel.Errors),
		"media_userspace": int64(t.UserspaceStreams), "media_kernel": int64(t.KernelStreams), "media_mixed": int64(t.MixedStreams),
	}
	avg, total, stddev := t.DurationStats()
	totals := ngproto.Dict{
		"uptime":                     fmt.Sprintf("%d", int64(time.Since(h.reg.Started()).Seconds())),
		"managedsessions":            i(t.Managed),
		"rejectedsessions":           i(t.Rejected),
		"timeoutsessions":            i(t.Timeout),
		"silenttimeoutsessions":      i(t.SilentTimeout),
		"finaltimeoutsessions":       i(t.FinalTimeout),
		"offertimeoutsessions":       i(t.OfferTimeout),
		"regularterminatedsessions":  i(t.RegularTerminated),
		"forcedterminatedsessions":   i(t.ForcedTerminated),
		"relayedpackets_user":        i(t.Relayed.Packets),
		"relayedpacketerrors_user":   i(t.Relayed.Errors),
		"relayedbytes_user":          i(t.Relayed.Bytes),
		"relayedpackets_kernel":      i(t.RelayedKernel.Packets),
		"relayedpacketerrors_kernel": i(t.RelayedKernel.Errors),
		"relayedbytes_kernel":        i(t.RelayedKernel.Bytes),
		"relayedpackets":             i(t.Relayed.Packets + t.RelayedKernel.Packets),
		"relayedpacketerrors":        i(t.Relayed.Errors + t.RelayedKernel.Errors),
		"relayedbytes":               i(t.Relayed.Bytes + t.RelayedKernel.Bytes),
		"zerowaystreams":             i(t.ZeroWayStreams),
		"onewaystreams":              i(t.OneWayStreams),
		"avgcallduration":            decimal6(avg),
		"totalcallsduration":         decimal6(total),
		"totalcallsduration2":        decimal6(t.TotalCallDurationSquared),
		"totalcallsduration_stddev":  decimal6(stddev),
	}
	iv := t.Interval
	interval := ngproto.Dict{
		"totalcallsduration": decimal6(iv.CallsDuration),
		"minmanagedsessions": int64(iv.MinSessions),
		"maxmanagedsessions": int64(iv.MaxSessions),
	}
	for _, sc := range statCommands {
		for j, k := range []string{"min", "max", "avg"} {
			interval[k+sc.cmd+"delay"] = decimal6(iv.Delay[sc.cmd][j])
		}
	}
	for _, sc := range statCommands {
		for j, k := range []string{"min", "max", "avg"} {
			interval[k+sc.cmd+"requestrate"] = fmt.Sprint(iv.Rate[sc.cmd][j])
		}
	}
	mosTotal, mos2, mosN, mosAvg, mosDev := t.MOSStats()
	mos := ngproto.Dict{
		"mos_total": decimal6(mosTotal), "mos2_total": decimal6(mos2), "mos_samples_total": int64(mosN),
		"mos_average": decimal6(mosAvg), "mos_stddev": decimal6(mosDev),
	}
	return ngproto.Dict{
		"result": "ok",
		"statistics": ngproto.Dict{
			"currentstatistics":  current,
			"totalstatistics":    totals,
			"intervalstatistics": interval,
			"mos":                mos,
			"controlstatistics":  h.stats.render(),
			"interfaces":         h.interfaces(),
			"transcoders":        []any{},
		},
	}
}

func (s *ctlStats) render() ngproto.Dict {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.proxies))
	out := ngproto.Dict{}
	sums := map[string]int64{}
	proxies := make([]any, 0, len(keys))
	for _, k := range keys {
		p := s.proxies[k]
		pd := ngproto.Dict{"proxy": k, "errorcount": p.errors}
		for _, sc := range statCommands {
			var cs cmdStat
			if c := p.cmds[sc.cmd]; c != nil {
				cs = *c
			}
			pd[sc.short+"count"] = cs.count
			pd[sc.short+"duration"] = secs(cs.duration)
			sums[sc.short] += cs.count
		}
		proxies = append(proxies, pd)
	}
	out["proxies"] = proxies
	for _, sc := range statCommands {
		out["total"+sc.short+"count"] = sums[sc.short]
	}
	return out
}

// cliProxies returns the per-proxy request counts for the CLI's "list
// totals" table.
func (s *ctlStats) cliProxies() []cli.ProxyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.proxies))
	out := make([]cli.ProxyStats, 0, len(keys))
	for _, k := range keys {
		p := s.proxies[k]
		ps := cli.ProxyStats{Proxy: k, Requests: map[string]uint64{}, Errors: uint64(p.errors)}
		for _, sc := range statCommands {
			if c := p.cmds[sc.cmd]; c != nil {
				ps.Requests[sc.cli] = uint64(c.count)
			}
		}
		out = append(out, ps)
	}
	return out
}

// interfaces renders the port usage of every configured address.
func (h *Handler) interfaces() []any {
	cfg := h.reg.Config()
	used := int64(h.reg.PortsInUse())
	total := int64(cfg.PortMax - cfg.PortMin + 1)
	if total < 0 {
		total = 0
	}
	out := make([]any, 0, len(cfg.Interfaces))
	for _, i := range cfg.Interfaces {
		pct := "0.00"
		if total > 0 {
			pct = fmt.Sprintf("%.2f", float64(used)*100/float64(total))
		}
		out = append(out, ngproto.Dict{
			"name":    i.Name,
			"address": i.Address.String(),
			"ports": ngproto.Dict{
				"min": int64(cfg.PortMin), "max": int64(cfg.PortMax),
				"used": used, "used_pct": pct, "free": total - used, "totals": total,
				"last": int64(0),
			},
		})
	}
	return out
}
