package control

import (
	"net/netip"
	"time"

	"sipmedia/mediad/internal/call"
	"sipmedia/mediad/internal/cli"
)

// CLICalls adapts the call registry (and the handler's per-proxy request
// counts) to the CLI's view of calls.
type CLICalls struct {
	reg *call.Registry
	h   *Handler
}

var _ cli.Calls = (*CLICalls)(nil)

// NewCLICalls returns the cli.Calls for reg; h may be nil (no per-proxy
// request statistics then).
func NewCLICalls(reg *call.Registry, h *Handler) *CLICalls { return &CLICalls{reg: reg, h: h} }

// Counts implements cli.Calls.
func (c *CLICalls) Counts() cli.Counts { return countCalls(c.reg.All()) }

// countCalls counts calls by the address families of their sockets.
func countCalls(all []*call.CallStats) cli.Counts {
	n := cli.Counts{Own: len(all)}
	for _, st := range all {
		v4, v6 := false, false
		for _, t := range st.Tags {
			for _, m := range t.Medias {
				for _, s := range m.Streams {
					if s.LocalAddr.Is4() {
						v4 = true
					} else if s.LocalAddr.IsValid() {
						v6 = true
					}
				}
			}
		}
		switch {
		case v4 && v6:
			n.Mixed++
		case v6:
			n.IPv6Only++
		default:
			n.IPv4Only++
		}
	}
	return n
}

// Sessions implements cli.Calls.
func (c *CLICalls) Sessions() []cli.Session {
	all := c.reg.All()
	out := make([]cli.Session, 0, len(all))
	for _, st := range all {
		s := cliSession(st)
		s.Tags = nil
		out = append(out, s)
	}
	return out
}

// Session implements cli.Calls.
func (c *CLICalls) Session(callID string) (cli.Session, bool) {
	st, ok := c.reg.Stats(callID)
	if !ok {
		return cli.Session{}, false
	}
	return cliSession(st), true
}

// Terminate implements cli.Calls.
func (c *CLICalls) Terminate(callID string) bool { return c.reg.Terminate(callID) }

// Limits implements cli.Calls.
func (c *CLICalls) Limits() call.Limits { return c.reg.Limits() }

// SetLimits implements cli.Calls.
func (c *CLICalls) SetLimits(change func(*call.Limits)) { c.reg.SetLimits(change) }

// TerminateAll implements cli.Calls.
func (c *CLICalls) TerminateAll() int { return c.reg.TerminateAll() }

// Totals implements cli.Calls.
func (c *CLICalls) Totals() cli.Totals {
	k := c.reg.Counters()
	t := cli.Totals{
		Managed:           k.Managed.Load(),
		Rejected:          k.Rejected.Load(),
		Timeout:           k.Timeout.Load(),
		OfferTimeout:      k.OfferTimeout.Load(),
		SilentTimeout:     k.SilentTimeout.Load(),
		FinalTimeout:      k.FinalTimeout.Load(),
		RegularTerminated: k.Regular.Load(),
		ForcedTerminated:  k.Forced.Load(),
		Ended:             k.Ended.Load(),
		TotalCallDuration: time.Duration(k.TotalDurationNs.Load()),
		// ms² to s²
		TotalCallDurationSquared: float64(k.TotalDurationSqMs2.Load()) / 1e6,
		MOSSum:                   k.MOSSum.Load(),
		MOSSquares:               k.MOSSquares.Load(),
		MOSSamples:               k.MOSSamples.Load(),
	}
	rt, rr := c.reg.RelayTotals(), c.reg.RelayRates()
	t.Relayed = cli.Counters{Packets: rt.Packets, Bytes: rt.Bytes, Errors: rt.Errors}
	t.Rate = cli.Counters{Packets: rr.Packets, Bytes: rr.Bytes, Errors: rr.Errors}
	kt, kr := c.reg.KernelTotals(), c.reg.KernelRates() // kernel fast path (call/kernel.go)
	t.RelayedKernel = cli.Counters{Packets: kt.Packets, Bytes: kt.Bytes}
	t.RateKernel, t.KernelStreams = cli.Counters{Packets: kr.Packets, Bytes: kr.Bytes}, c.reg.KernelStreams()
	if c.h != nil {
		t.Proxies = c.h.stats.cliProxies()
		t.Interval = c.h.stats.interval.lastInterval()
	}
	return t
}

func cliSession(st *call.CallStats) cli.Session {
	s := cli.Session{
		CallID: st.CallID, Deleted: st.Deleting, Created: st.Created, LastSignal: st.LastSignal,
		Proxy: st.Proxy,
	}
	for _, t := range st.Tags {
		typ := "FROM_TAG"
		switch {
		case t.Tag == "":
			typ = "UNKNOWN"
		case t.Answerer:
			typ = "TO_TAG"
		}
		ct := cli.Tag{Tag: t.Tag, Type: typ, Label: t.Label, ViaBranch: t.ViaBranch, Started: t.Created,
			SubscribedTo: t.Subscriptions, Subscribers: t.Subscribers}
		for _, m := range t.Medias {
			cm := cli.Media{Index: m.Index, Type: m.Type, Protocol: m.Protocol}
			for _, ss := range m.Streams {
				cm.Streams = append(cm.Streams, cli.Stream{
					Local:   netip.AddrPortFrom(ss.LocalAddr, uint16(ss.LocalPort)),
					Remote:  ss.Endpoint,
					RTCP:    hasFlag(ss.Flags, "RTCP") && !hasFlag(ss.Flags, "RTP"),
					Packets: ss.Packets, Bytes: ss.Bytes, Errors: ss.Errors,
					LastPacket: ss.LastPacket,
				})
			}
			ct.Medias = append(ct.Medias, cm)
		}
		s.Tags = append(s.Tags, ct)
	}
	return s
}

func hasFlag(l []string, f string) bool {
	for _, x := range l {
		if x == f {
			return true
		}
	}
	return false
}
