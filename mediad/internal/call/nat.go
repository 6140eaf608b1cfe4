package call

import (
	"sipmedia/mediad/internal/relay"
)

// pierceNATPacket is what rtpengine sends to pierce a NAT: an RTP header
// with payload type 127 and sequence number 65535, and nothing else.
const pierceNATPacket = "\x80\x7f\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"

// pierceNAT sends pierceNATPacket to md's party from rs's socket while the
// party has an address from its SDP and has not been confirmed by its own
// packets (rtpengine's call_stream_state_machine: at signalling, then
// every second).
func (r *Registry) pierceNAT(md *Media, rs *relay.Stream) {
	if !md.PierceNAT || rs == nil {
		return
	}
	f := rs.Forwarding()
	if f == nil || !relay.Sendable(f.Remote) {
		return
	}
	if _, confirmed := rs.Learned(); confirmed {
		return
	}
	_, _ = rs.WriteToUDPAddrPort([]byte(pierceNATPacket), rs.Peer())
}

// pierceNATLocked is the timer's pierceNAT for every stream of c.
func (r *Registry) pierceNATLocked(c *Call) {
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			if !md.PierceNAT {
				continue
			}
			for _, s := range md.Streams {
				if s != nil {
					r.pierceNAT(md, s.rs)
				}
			}
		}
	}
}
