package call

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// ownSDP writes an SDP of the daemon's own making (a subscription's offer,
// a publish answer), where the offer/answer path rewrites the party's.
type ownSDP struct{ strings.Builder }

func (b *ownSDP) line(parts ...string) {
	for _, p := range parts {
		b.WriteString(p)
	}
	b.WriteString("\r\n")
}

// session writes v= and, unless the caller writes its own, a generated
// origin (a 63-bit decimal id as its version, as rtpengine's) at local
// address a and s=software; then t=.
func (b *ownSDP) session(a netip.Addr, origin, name, software string) {
	b.line("v=0")
	if origin == "" {
		id := strconv.FormatUint(rand.Uint64()>>1, 10)
		origin, name = "- "+id+" "+id+" IN "+famOf(a)+" "+a.String(), software
	}
	b.line("o=", origin)
	b.line("s=", name)
	b.line("t=0 0")
}

// media writes md's m= line at its RTP socket and the socket's c= line;
// a media without sockets gets port 0 and no c=.
func (b *ownSDP) media(md *Media) {
	port := "0"
	if md.pair != nil {
		port = strconv.Itoa(md.Streams[0].LocalPort)
	}
	b.line("m=", md.Type, " ", port, " ", md.Protocol, " ", strings.Join(md.Formats, " "))
	if md.pair != nil {
		a := md.Streams[0].LocalAddr
		b.line("c=IN ", famOf(a), " ", a.String())
	}
}

// rtcp writes md's a=rtcp (its RTCP socket's port), after its attributes.
func (b *ownSDP) rtcp(md *Media) {
	if md.pair != nil && md.Streams[1] != nil {
		b.line("a=rtcp:", strconv.Itoa(md.Streams[1].LocalPort))
	}
}

// firstLocal is the local address of m's first media with sockets, for
// a generated origin.
func firstLocal(m *Monologue) netip.Addr {
	for _, md := range m.Medias {
		if md.pair != nil && md.Streams[0] != nil {
			return md.Streams[0].LocalAddr
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// bindMedia gives md a pair of sockets on interface ifName (addresses
// ifs) for address family fam, as a party of the daemon's own making
// needs (no ICE).
func (r *Registry) bindMedia(md *Media, ifName string, ifs []Interface, fam string) error {
	pair, err := r.allocate(bindAddrs(ifs, fam, false), false)
	if err != nil {
		return err
	}
	md.pair, md.Interface = pair, ifName
	initStreams(md, ifsOf(r, ifName))
	r.setLocal(md, fam)
	return nil
}
