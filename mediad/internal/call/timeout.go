package call

import (
	"sync/atomic"
	"time"
)

// mediaTimeoutLocked applies rtpengine's media timeouts (call.c,
// call_timer_iterator) to an answered call: every stream must have seen a
// packet (or signalling) within Timeout; streams of a party we do not
// receive from, or without a socket, within SilentTimeout; streams without
// a peer address within OfferTimeout. A call whose only checked streams are
// silent ones lives while they are within SilentTimeout. It returns the
// reason and the counter to charge, or nil if the call lives. As in
// rtpengine, the reason is that of the last stream looked at. A zero
// duration disables its check.
func (r *Registry) mediaTimeoutLocked(c *Call, now time.Time, lim Limits) (string, *atomic.Uint64) {
	recvGood, silentGood, recvChecked := false, false, false
	reason, counter := "timeout", &r.counters.Timeout
	for _, m := range c.monologues {
		for _, md := range m.Medias {
			for _, s := range md.Streams {
				if s == nil || recvGood {
					continue
				}
				last := c.lastSignal
				if ns := s.lastPacketNs(); ns > 0 {
					if t := time.Unix(0, ns); t.After(last) {
						last = t
					}
				}
				check, good := lim.Timeout, &recvGood
				reason, counter = "timeout", &r.counters.Timeout
				switch {
				case !md.FlagRecv || s.Pair == nil:
					check, good = lim.SilentTimeout, &silentGood
					reason, counter = "silent timeout", &r.counters.SilentTimeout
				case !s.Endpoint.IsValid():
					check = lim.OfferTimeout
					reason, counter = "offer timeout", &r.counters.OfferTimeout
				default:
					recvChecked = true
				}
				if check <= 0 || now.Sub(last) < check {
					*good = true
				}
			}
		}
	}
	if !recvChecked && !recvGood {
		recvGood = silentGood
	}
	if recvGood {
		return "", nil
	}
	return reason, counter
}
