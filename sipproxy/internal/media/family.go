package media

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/ngproto"
)

// addFamily asks the daemon for the address family of the party an
// offer goes to (rtpengine's address-family), when it differs from the
// family of the SDP: an IPv6 phone calling an IPv4 one then gets IPv6
// media and the other IPv4, bridged by the daemon, which answers each
// party in its own family. The seed's strings name no family, so each
// party would be handed the other's, which it cannot reach; OpenSIPS and
// Kamailio scripts add the flag themselves. to is the party's address
// (host or host:port); nothing is added when the configured strings name a
// family, to is not an IP address, or the families agree.
func addFamily(ng ngproto.Dict, to string, sdp []byte) {
	if _, ok := ng["address-family"]; ok {
		return
	}
	if _, ok := ng["address family"]; ok {
		return
	}
	host := to
	if h, _, err := net.SplitHostPort(to); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return
	}
	if want, have := ipFamily(ip), sdpFamily(sdp); have != "" && have != want {
		ng["address-family"] = want
	}
}

// ipFamily is the NG address family of ip: IP4 (IPv4-mapped too) or IP6.
func ipFamily(ip netip.Addr) string {
	if ip.Unmap().Is6() {
		return "IP6"
	}
	return "IP4"
}

// sdpFamily is the address type of the SDP's first c= line ("" if none).
func sdpFamily(sdp []byte) string {
	i := bytes.Index(sdp, []byte("c=IN IP"))
	if i < 0 || i+8 > len(sdp) {
		return ""
	}
	switch sdp[i+7] {
	case '4':
		return "IP4"
	case '6':
		return "IP6"
	}
	return ""
}

// replyTarget is where a reply goes: the host its top Via was received
// from (received=), else the Via's sent-by host.
func replyTarget(res *sip.Response) string {
	v := res.Via()
	if v == nil {
		return ""
	}
	if r, ok := v.Params.Get("received"); ok && r != "" {
		return r
	}
	return v.Host
}
