package webrtc

import (
	"net/netip"
	"sync"

	"sipmedia/mediad/internal/webrtc/ice"
)

// Socket is one local socket of a component. A component may be bound on
// several local addresses (IPv4 and IPv6, or several interface addresses,
// each a candidate); packets to a peer must leave from the socket the peer
// talks to, or ICE and the peer's DTLS/SRTP stack drop them.
type Socket struct {
	Local  netip.AddrPort
	Writer ice.PacketWriter
}

// router remembers which local socket each peer's DTLS was heard on, for
// endpoints without ICE; with ICE, the agent knows the selected pair's
// socket (ice.Route) and the router only picks for addresses it has not
// been told about.
type router struct {
	sockets []Socket
	mu      sync.RWMutex
	via     map[netip.AddrPort]ice.PacketWriter // peer -> one of sockets' writers
}

func (r *router) learn(from netip.AddrPort, w ice.PacketWriter) {
	r.mu.RLock()
	cur, ok := r.via[from]
	r.mu.RUnlock()
	if ok && cur == w {
		return
	}
	r.mu.Lock()
	if r.via == nil {
		r.via = make(map[netip.AddrPort]ice.PacketWriter)
	}
	if len(r.via) > 64 {
		clear(r.via) // bounded: only DTLS sources are learned
	}
	r.via[from] = w
	r.mu.Unlock()
}

// pick returns the socket for to: where it was heard, else the first of
// its address family, else the first.
func (r *router) pick(to netip.AddrPort) ice.PacketWriter {
	r.mu.RLock()
	w, ok := r.via[to]
	r.mu.RUnlock()
	if ok {
		return w
	}
	v4 := to.Addr().Unmap().Is4()
	for _, s := range r.sockets {
		if s.Local.Addr().Unmap().Is4() == v4 {
			return s.Writer
		}
	}
	return r.sockets[0].Writer
}

func (r *router) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	return r.pick(to).WriteToUDPAddrPort(b, to)
}

// Via returns the Transform the relay must call for packets received on
// the endpoint's i-th socket (Config.Sockets order), so that replies and
// media toward a peer leave from the socket the peer uses.
func (e *Endpoint) Via(i int) Transform {
	if i < 0 || i >= len(e.router.sockets) {
		i = 0
	}
	return via{e: e, on: e.router.sockets[i].Writer}
}

// via is the Endpoint seen from one of its sockets (on).
type via struct {
	e  *Endpoint
	on ice.PacketWriter
}

func (v via) Inbound(buf []byte, n int, from netip.AddrPort) ([]byte, bool) {
	return v.e.inbound(buf, n, from, v.on)
}

func (v via) Outbound(dst, plain []byte) ([]byte, error) { return v.e.Outbound(dst, plain) }
func (v via) Peer() (netip.AddrPort, bool)               { return v.e.Peer() }
func (v via) WritePeer(b []byte) (bool, error)           { return v.e.WritePeer(b) }

// WritePeer sends an (already transformed) packet to the peer from the
// right socket. Without ICE and without SetPeer, handled is false and the
// relay sends to its own learned or signalled address. With ICE and no
// selected pair (not yet, or consent lost) the packet is dropped: media
// must not go where the peer has not consented.
func (e *Endpoint) WritePeer(b []byte) (handled bool, err error) {
	r, ok := e.route()
	if !ok {
		if e.agent != nil {
			return true, ErrNoPeer
		}
		return false, nil
	}
	return true, e.write(b, r)
}
