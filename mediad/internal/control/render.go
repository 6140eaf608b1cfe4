package control

import (
	"net/netip"

	"sipmedia/mediad/internal/call"
	"sipmedia/ngproto"
)

// renderStats renders call statistics as rtpengine's ng_call_stats does
// (query and delete replies).
func renderStats(st *call.CallStats) ngproto.Dict {
	tags := ngproto.Dict{}
	for _, t := range st.Tags {
		td := ngproto.Dict{
			"tag":     t.Tag,
			"created": st.Created.Unix(),
		}
		td["created"] = t.Created.Unix()
		if t.Label != "" {
			td["label"] = t.Label
		}
		if t.ViaBranch != "" {
			td["via-branch"] = t.ViaBranch
		}
		td["subscriptions"] = subList(t.Subscriptions)
		td["subscribers"] = subList(t.Subscribers)
		medias := make([]any, 0, len(t.Medias))
		for _, m := range t.Medias {
			streams := make([]any, 0, len(m.Streams))
			for _, s := range m.Streams {
				sd := ngproto.Dict{
					"endpoint":            endpoint(s.Endpoint),
					"advertised endpoint": endpoint(s.Advertised),
					"last packet":         s.LastPacket.Unix(),
					"flags":               strList(s.Flags),
					"stats":               counts(s.Counts),
				}
				if s.LocalPort != 0 {
					// A released (rejected) stream has no socket to show.
					sd["local port"] = int64(s.LocalPort)
					sd["local address"] = s.LocalAddr.String()
					sd["family"] = family(s.LocalAddr)
				}
				streams = append(streams, sd)
			}
			medias = append(medias, ngproto.Dict{
				"index":    int64(m.Index),
				"type":     m.Type,
				"protocol": m.Protocol,
				"streams":  streams,
				"flags":    strList(m.Flags),
			})
		}
		td["medias"] = medias
		tags[t.Key] = td
	}
	return ngproto.Dict{
		"created":     st.Created.Unix(),
		"created_us":  int64(st.Created.Nanosecond() / 1000),
		"last signal": st.LastSignal.Unix(),
		"SSRC":        ngproto.Dict{},
		"tags":        tags,
		"totals":      ngproto.Dict{"RTP": counts(st.RTP), "RTCP": counts(st.RTCP)},
	}
}

func subList(tags []string) []any {
	out := make([]any, 0, len(tags))
	for _, t := range tags {
		out = append(out, ngproto.Dict{"tag": t, "type": "offer/answer"})
	}
	return out
}

func counts(c call.Counts) ngproto.Dict {
	return ngproto.Dict{"packets": int64(c.Packets), "bytes": int64(c.Bytes), "errors": int64(c.Errors)}
}

func family(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "IPv4"
	}
	return "IPv6"
}

func endpoint(ap netip.AddrPort) ngproto.Dict {
	if !ap.IsValid() {
		return ngproto.Dict{}
	}
	return ngproto.Dict{"family": family(ap.Addr()), "address": ap.Addr().String(), "port": int64(ap.Port())}
}

func strList(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
