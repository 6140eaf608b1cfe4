package call

import (
	"net/netip"
	"sort"
	"time"
)

// CallStats is the statistics of one call, shaped as rtpengine's
// ng_call_stats (package control renders it).
type CallStats struct {
	CallID     string
	Created    time.Time
	LastSignal time.Time
	Proxy      string
	Deleting   bool       // a delete is pending (delete-delay)
	Tags       []TagStats // in creation order
	RTP, RTCP  Counts     // totals
	// PubSub are the tags of the call's subscriptions (subscribe
	// request): a link to one is "pub/sub", any other "offer/answer".
	PubSub []string
	// SSRC is the quality each SSRC of the parties reported (mos.go):
	// only those with a MOS, as rtpengine lists them.
	SSRC map[uint32]SSRCStats
}

// SSRCStats is the quality one SSRC reported in its receiver reports
// (rtpengine's "SSRC" entries).
type SSRCStats struct {
	CumulativeLoss  uint32
	Average         MOSFigures // ReportedAt unset
	Samples         int
	Lowest, Highest MOSFigures
	// Progression is about ten of the reports, Interval seconds apart.
	Interval    int64
	Progression []MOSFigures
}

// MOSFigures is one report's figures: MOS times 10, round trips (both
// legs, this leg) in microseconds, jitter in milliseconds, loss in
// percent, and when (unix seconds).
type MOSFigures struct {
	MOS, RTT, RTTLeg, Jitter, Loss, ReportedAt int64
}

// TagStats describes one monologue.
type TagStats struct {
	Key       string // tag, or "<untagged N>"
	Tag       string
	Answerer  bool // created as the receiving side of an offer
	Label     string
	ViaBranch string
	Created   time.Time
	// Subscriptions are the tags this party receives media from,
	// Subscribers those receiving its media (newest first).
	Subscriptions, Subscribers []string
	Medias                     []MediaStats
}

// MediaStats describes one media of a monologue.
type MediaStats struct {
	Index    int
	Type     string
	Protocol string
	Flags    []string
	Streams  []StreamStats
}

// StreamStats describes one stream (component).
type StreamStats struct {
	// Bound: the stream's media holds sockets. Its RTCP stream has
	// LocalPort 0 when RTCP rides on the RTP port (a single port).
	Bound      bool
	LocalPort  int
	LocalAddr  netip.Addr
	Endpoint   netip.AddrPort // invalid: unknown
	Advertised netip.AddrPort
	// CryptoSuite is the SDES suite the stream was set up with ("" = none).
	CryptoSuite string
	LastPacket  time.Time
	Flags       []string
	Counts
}

// Counts are packet counters.
type Counts struct {
	Packets, Bytes, Errors uint64
}

// DeleteParams select what a delete removes.
type DeleteParams struct {
	CallID, FromTag, ToTag, ViaBranch string
	// UseToTag: the request had the to-tag flag. rtpengine 10.5 checks a
	// given to-tag either way; kept for callers that want to say so.
	UseToTag bool
	// Delay overrides the configured delete-delay when HasDelay.
	Delay    time.Duration
	HasDelay bool
	// Fast: the caller does not want statistics.
	Fast bool
}

// Query returns the statistics of a call.
func (r *Registry) Query(callID, fromTag, toTag string) (*CallStats, error) {
	c := r.lookup(callID)
	if c == nil {
		return nil, ErrUnknownCall
	}
	defer c.mu.Unlock()
	r.kernelRefreshLocked(c)
	var only []*Monologue
	if m := c.byTag(fromTag); m != nil {
		only = append([]*Monologue{m}, m.subscriptions...)
	}
	return c.statsLocked(only), nil
}

// Delete deletes a call, or the dialogue or branch the tags select, now
// or after the delete delay. It returns the statistics taken before the
// deletion (nil with Fast).
func (r *Registry) Delete(p DeleteParams) (*CallStats, error) {
	c := r.lookup(p.CallID)
	if c == nil {
		return nil, ErrNotFound
	}
	defer c.mu.Unlock()
	now := time.Now()
	// rtpengine 10.5's call_delete_branch: without a from-tag the whole
	// call goes. Otherwise one party goes (removeMonologueLocked, which
	// may take the call): the via-branch's party when no to-tag is
	// given, else the to-tag's (or from-tag's) party, the via-branch's if
	// that tag is unknown, or the from-tag's party if the to-tag is
	// unknown and its only peer is still untagged. The statistics cover
	// the party named last and its subscriptions.
	var stTarget, ml *Monologue
	if p.FromTag != "" {
		stTarget = c.byTag(p.FromTag)
		if p.ToTag != "" {
			stTarget = c.byTag(p.ToTag)
		}
		ml = c.deleteTarget(p)
		if ml == nil {
			return nil, ErrNotFound
		}
	}
	var st *CallStats
	if !p.Fast && stTarget != nil {
		r.kernelRefreshLocked(c)
		st = c.statsLocked(append([]*Monologue{stTarget}, stTarget.subscriptions...))
	}
	for _, m := range c.monologues {
		m.terminated, m.termReason = now, termRegular
	}
	delay := r.Limits().DeleteDelay
	if p.HasDelay {
		delay = p.Delay
	}
	if delay > 0 {
		at := now.Add(delay)
		if ml != nil {
			ml.deleteAt = at
		} else {
			c.deleteAt = at
		}
		r.log.Info("delete scheduled", "call-id", c.ID, "delay", delay)
		return st, nil
	}
	if ml != nil {
		r.removeMonologueLocked(c, ml, now)
		if !c.gone {
			r.log.Info("branch deleted", "call-id", c.ID, "tag", ml.key())
			return st, nil
		}
	} else {
		r.destroyLocked(c, "deleted", now)
	}
	r.counters.Regular.Add(1)
	return st, nil
}

// deleteTarget is the party a delete with a from-tag selects (nil: none,
// "tags didn't match").
func (c *Call) deleteTarget(p DeleteParams) *Monologue {
	if p.ToTag == "" && p.ViaBranch != "" {
		if m := c.byBranch(p.ViaBranch); m != nil {
			return m
		}
	}
	match := p.FromTag
	if p.ToTag != "" {
		match = p.ToTag
	}
	if m := c.byTag(match); m != nil && !m.zombie {
		return m
	}
	if p.ViaBranch != "" {
		if m := c.byBranch(p.ViaBranch); m != nil {
			return m
		}
	}
	if p.ToTag != "" {
		if m := c.byTag(p.FromTag); m != nil && !m.zombie && len(m.subscriptions) == 1 && m.subscriptions[0].Tag == "" {
			return m
		}
	}
	return nil
}

// statsLocked returns the statistics of the call, limited to the parties
// in only when only is not nil.
func (c *Call) statsLocked(only []*Monologue) *CallStats {
	st := &CallStats{CallID: c.ID, Created: c.created, LastSignal: c.lastSignal, Proxy: c.proxy, Deleting: !c.deleteAt.IsZero()}
	// Slices are sized up front (flags at most about six each): growing
	// them one append at a time was most of a delete's allocations.
	st.Tags = make([]TagStats, 0, len(c.monologues))
	for _, m := range c.monologues {
		if m.pubsub {
			st.PubSub = append(st.PubSub, m.Tag)
		}
		if only != nil && !contains(only, m) {
			continue
		}
		c.ssrcStatsLocked(m, st)
		ts := TagStats{Key: m.key(), Tag: m.Tag, Answerer: m.answerer, Label: m.Label, ViaBranch: m.ViaBranch, Created: m.Created}
		for _, x := range m.subscriptions {
			ts.Subscriptions = append(ts.Subscriptions, x.Tag)
		}
		for _, x := range m.subscribers {
			ts.Subscribers = append(ts.Subscribers, x.Tag)
		}
		ts.Medias = make([]MediaStats, 0, len(m.Medias))
		for _, md := range m.Medias {
			ms := MediaStats{Index: md.Index, Type: md.Type, Protocol: md.Protocol,
				Flags: make([]string, 0, 8), Streams: make([]StreamStats, 0, len(md.Streams))}
			if m.sdpSeen {
				ms.Flags = append(ms.Flags, "initialized")
			}
			if md.Asymmetric {
				ms.Flags = append(ms.Flags, "asymmetric")
			}
			if md.FlagSend {
				ms.Flags = append(ms.Flags, "send")
			}
			if md.FlagRecv {
				ms.Flags = append(ms.Flags, "recv")
			}
			verified := md.secState.dtlsVerified()
			ms.Flags = negMediaFlags(ms.Flags, md, m.iceControlling(md), verified[0] || verified[1])
			mux := md.neg.mux
			for k, s := range md.Streams {
				if s == nil {
					continue
				}
				ss := StreamStats{
					Bound: s.Pair != nil, LocalPort: s.LocalPort, LocalAddr: s.LocalAddr,
					Endpoint: s.Endpoint, Advertised: s.Advertised,
					Counts: s.counts(), Flags: make([]string, 0, 6),
					CryptoSuite: md.neg.suite,
				}
				ss.LastPacket = c.lastSignal
				if ns := s.lastPacketNs(); ns > 0 {
					ss.LastPacket = time.Unix(0, ns)
				}
				switch {
				case !s.RTCP:
					ss.Flags = append(ss.Flags, "RTP")
					if mux {
						ss.Flags = append(ss.Flags, "RTCP")
					}
				case mux:
					ss.Flags = append(ss.Flags, "RTCP", "fallback RTCP")
				default:
					ss.Flags = append(ss.Flags, "RTCP")
				}
				if s.Endpoint.IsValid() {
					ss.Flags = append(ss.Flags, "filled")
				}
				if s.confirmed() {
					ss.Flags = append(ss.Flags, "confirmed")
				}
				ss.Flags = s.kernelFlags(ss.Flags)
				if verified[k] {
					ss.Flags = append(ss.Flags, "DTLS fingerprint verified")
				}
				if md.StrictSource {
					ss.Flags = append(ss.Flags, "strict source address")
				}
				if md.MediaHandover {
					ss.Flags = append(ss.Flags, "media handover")
				}
				if md.neg.ice {
					ss.Flags = append(ss.Flags, "ICE")
				}
				tot := &st.RTP
				if s.RTCP {
					tot = &st.RTCP
				}
				tot.Packets += ss.Packets
				tot.Bytes += ss.Bytes
				tot.Errors += ss.Errors
				ms.Streams = append(ms.Streams, ss)
			}
			ts.Medias = append(ts.Medias, ms)
		}
		st.Tags = append(st.Tags, ts)
	}
	return st
}

// All returns the statistics of every call, oldest first.
func (r *Registry) All() []*CallStats {
	var out []*CallStats
	for _, c := range r.snapshot() {
		c.mu.Lock()
		if !c.gone {
			out = append(out, c.statsLocked(nil))
		}
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].CallID < out[j].CallID
	})
	return out
}

// Stats returns one call's statistics (CLI "list sessions <id>").
func (r *Registry) Stats(callID string) (*CallStats, bool) {
	st, err := r.Query(callID, "", "")
	return st, err == nil
}

func contains(l []*Monologue, m *Monologue) bool {
	for _, x := range l {
		if x == m {
			return true
		}
	}
	return false
}
