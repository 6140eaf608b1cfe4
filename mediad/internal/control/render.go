package control

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// renderStats renders call statistics as rtpengine's ng_call_stats does
// (query and delete replies). The tags and totals are written straight to
// bencode: as Dict trees they were about half the bytes an NG cycle
// allocated. Every dictionary is written with its keys in byte order, as
// the Dict encoder would.
func renderStats(st *call.CallStats) ngproto.Dict {
	b := make([]byte, 0, 512+768*len(st.Tags))
	b = appendTags(b, st)
	tags := b[:len(b):len(b)]
	b = appendTotals(b[len(b):], st)
	return ngproto.Dict{
		"created":     st.Created.Unix(),
		"created_us":  int64(st.Created.Nanosecond() / 1000),
		"last signal": st.LastSignal.Unix(),
		"SSRC":        renderSSRC(st.SSRC),
		"tags":        ngproto.Bencoded(tags),
		"totals":      ngproto.Bencoded(b),
	}
}

// renderSSRC renders the quality figures as rtpengine's ng_stats_ssrc.
func renderSSRC(in map[uint32]call.SSRCStats) ngproto.Dict {
	out := ngproto.Dict{}
	for ssrc, s := range in {
		fig := func(f call.MOSFigures, at bool) ngproto.Dict {
			d := ngproto.Dict{"MOS": f.MOS, "round-trip time": f.RTT, "round-trip time leg": f.RTTLeg,
				"jitter": f.Jitter, "packet loss": f.Loss}
			if at {
				d["reported at"] = f.ReportedAt
			}
			return d
		}
		avg := fig(s.Average, false)
		avg["samples"] = int64(s.Samples)
		entries := make([]any, 0, len(s.Progression))
		for _, f := range s.Progression {
			entries = append(entries, fig(f, true))
		}
		out[strconv.FormatUint(uint64(ssrc), 10)] = ngproto.Dict{
			"cumulative loss": int64(s.CumulativeLoss),
			"average MOS":     avg,
			"lowest MOS":      fig(s.Lowest, true),
			"highest MOS":     fig(s.Highest, true),
			"MOS progression": ngproto.Dict{"interval": s.Interval, "entries": entries},
		}
	}
	return out
}

func appendTotals(b []byte, st *call.CallStats) []byte {
	b = append(b, 'd')
	b = key(b, "RTCP")
	b = appendCounts(b, st.RTCP)
	b = key(b, "RTP")
	b = appendCounts(b, st.RTP)
	return append(b, 'e')
}

// appendTags writes the tags dictionary, keyed (and so sorted) by tag key.
func appendTags(b []byte, st *call.CallStats) []byte {
	var ibuf [8]int
	order := ibuf[:0]
	for i := range st.Tags {
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(x, y int) int { return strings.Compare(st.Tags[x].Key, st.Tags[y].Key) })
	b = append(b, 'd')
	for i, ti := range order {
		if i+1 < len(order) && st.Tags[order[i+1]].Key == st.Tags[ti].Key {
			continue // a dictionary holds a key once: the last, as a Dict would
		}
		t := &st.Tags[ti]
		b = key(b, t.Key)
		b = append(b, 'd')
		b = key(b, "created")
		b = ngproto.AppendBencodeInt(b, t.Created.Unix())
		if t.Label != "" {
			b = key(b, "label")
			b = ngproto.AppendBencodeString(b, t.Label)
		}
		b = key(b, "medias")
		b = append(b, 'l')
		for mi := range t.Medias {
			b = appendMedia(b, &t.Medias[mi])
		}
		b = append(b, 'e')
		b = key(b, "subscribers")
		b = appendSubs(b, t.Subscribers, st.PubSub, t.Tag)
		b = key(b, "subscriptions")
		b = appendSubs(b, t.Subscriptions, st.PubSub, t.Tag)
		b = key(b, "tag")
		b = ngproto.AppendBencodeString(b, t.Tag)
		if t.ViaBranch != "" {
			b = key(b, "via-branch")
			b = ngproto.AppendBencodeString(b, t.ViaBranch)
		}
		b = append(b, 'e')
	}
	return append(b, 'e')
}

func appendMedia(b []byte, m *call.MediaStats) []byte {
	b = append(b, 'd')
	b = key(b, "flags")
	b = appendStrList(b, m.Flags)
	b = key(b, "index")
	b = ngproto.AppendBencodeInt(b, int64(m.Index))
	b = key(b, "protocol")
	b = ngproto.AppendBencodeString(b, m.Protocol)
	b = key(b, "streams")
	b = append(b, 'l')
	for si := range m.Streams {
		b = appendStream(b, &m.Streams[si])
	}
	b = append(b, 'e')
	b = key(b, "type")
	b = ngproto.AppendBencodeString(b, m.Type)
	return append(b, 'e')
}

func appendStream(b []byte, s *call.StreamStats) []byte {
	b = append(b, 'd')
	b = key(b, "advertised endpoint")
	b = appendEndpoint(b, s.Advertised)
	if s.CryptoSuite != "" {
		b = key(b, "crypto suite")
		b = ngproto.AppendBencodeString(b, s.CryptoSuite)
	}
	b = key(b, "endpoint")
	b = appendEndpoint(b, s.Endpoint)
	if s.Bound {
		// A released (rejected) stream has no socket to show; the RTCP
		// stream of a single port shows port 0, as in rtpengine.
		b = key(b, "family")
		b = ngproto.AppendBencodeString(b, family(s.LocalAddr))
	}
	b = key(b, "flags")
	b = appendStrList(b, s.Flags)
	b = key(b, "last packet")
	b = ngproto.AppendBencodeInt(b, s.LastPacket.Unix())
	if s.Bound {
		b = key(b, "local address")
		b = appendAddr(b, s.LocalAddr)
		b = key(b, "local port")
		b = ngproto.AppendBencodeInt(b, int64(s.LocalPort))
	}
	b = key(b, "stats")
	b = appendCounts(b, s.Counts)
	return append(b, 'e')
}

// appendSubs writes the links of party self to tags; a link to or from
// one of the subscriptions pubsub is "pub/sub".
func appendSubs(b []byte, tags, pubsub []string, self string) []byte {
	b = append(b, 'l')
	selfSub := slices.Contains(pubsub, self)
	for _, t := range tags {
		b = append(b, 'd')
		b = key(b, "tag")
		b = ngproto.AppendBencodeString(b, t)
		b = key(b, "type")
		if selfSub || slices.Contains(pubsub, t) {
			b = ngproto.AppendBencodeString(b, "pub/sub")
		} else {
			b = ngproto.AppendBencodeString(b, "offer/answer")
		}
		b = append(b, 'e')
	}
	return append(b, 'e')
}

func appendCounts(b []byte, c call.Counts) []byte {
	b = append(b, 'd')
	b = key(b, "bytes")
	b = ngproto.AppendBencodeInt(b, int64(c.Bytes))
	b = key(b, "errors")
	b = ngproto.AppendBencodeInt(b, int64(c.Errors))
	b = key(b, "packets")
	b = ngproto.AppendBencodeInt(b, int64(c.Packets))
	return append(b, 'e')
}

func appendStrList(b []byte, l []string) []byte {
	b = append(b, 'l')
	for _, s := range l {
		b = ngproto.AppendBencodeString(b, s)
	}
	return append(b, 'e')
}

// appendEndpoint writes rtpengine's endpoint dictionary (empty when
// unknown).
func appendEndpoint(b []byte, ap netip.AddrPort) []byte {
	b = append(b, 'd')
	if ap.IsValid() {
		b = key(b, "address")
		b = appendAddr(b, ap.Addr())
		b = key(b, "family")
		b = ngproto.AppendBencodeString(b, family(ap.Addr()))
		b = key(b, "port")
		b = ngproto.AppendBencodeInt(b, int64(ap.Port()))
	}
	return append(b, 'e')
}

// appendAddr writes an address as a string, as netip.Addr.String would.
func appendAddr(b []byte, a netip.Addr) []byte {
	var buf [64]byte
	return ngproto.AppendBencodeBytes(b, a.AppendTo(buf[:0]))
}

func key(b []byte, k string) []byte { return ngproto.AppendBencodeString(b, k) }

func family(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IPv4"
	}
	return "IPv6"
}
