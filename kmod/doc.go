// Package kmod owns mediad's kernel fast path: an nftables table whose map
// rewrites the addresses and ports of established plain-RTP flows' packets
// (stateless, no conntrack), programmed over netlink, so that they are
// forwarded without userspace. It needs no kernel module beyond nf_tables
// (nft_ct for notrack, nft_fib, nft_socket in socket-mark mode). It
// knows nothing about calls or SDP: the relay decides what to offload and
// when to take it back.
//
// # Use
//
//	off, err := kmod.Open(ctx, kmod.Config{Table: 0, PortMin: 30000, PortMax: 40000, Log: log})
//	// errors.Is(err, kmod.ErrPermission / ErrUnsupported / ErrBusy): log one line, stay in userspace
//	err = off.Add(kmod.Flow{LocalA: la, PeerA: a, LocalB: lb, PeerB: b}) // both peers latched
//	st, err := off.Counters(flow)                                         // one flow: one round trip
//	all, err := off.AllCounters()                                         // every flow: one dump
//	final, err := off.RemoveStats(flow)                                   // back to the bound sockets
//	off.Close()                                                           // table gone
//
// A nil *Offloader is the disabled path (ErrDisabled), so the daemon can
// hold one unconditionally. One Offloader serves one family (IPv4 or
// IPv6). RTP and RTCP on separate ports are two Flows. A flow must be removed when it stops being a plain
// two-way relay: re-latching (Add with new peers replaces it), hold or
// one-way media, SRTP or ICE on either side, delete, timeout. Add and Remove
// cost a netlink round trip each: call them from signalling, never from
// the packet loop.
//
// # How a packet goes
//
// The relay keeps its sockets bound. Per flow the table's map holds a key
// for each side (peer address . local address . peer port . local port: the
// packet as that peer sends it) whose value is the rewrite: the other local
// endpoint as source, the other peer as destination. One rule at raw
// priority, before conntrack and routing, looks each UDP packet to a relay
// port up in that map; on a hit it writes the four fields (updating the IPv4
// header checksum and the UDP checksum; a zero IPv4 UDP checksum stays
// zero), marks the packet notrack and lets the kernel route it onward, to a
// remote peer (forwarding) or to a local one. Peers on this host send
// through the output hook, where the same rule runs in a chain of type
// route, so the kernel routes the rewritten packet again. No conntrack
// entry, no NAT: one map lookup per packet, and the elements take effect
// (and stop) with the very next packet. Packets that match no key (a peer
// that moved, a flow not offloaded, a fragment) reach the socket: the relay
// can re-latch.
//
// Traffic still in userspace is kept out of conntrack (notrack) as well,
// so a stateful firewall on the host does not track the relay's ports. Two
// modes: the whole port range (Config.SocketMark zero; the range must then
// be the relay's alone, since the ephemeral port range often overlaps it),
// or only the relay's own sockets, marked with SO_MARK (Config.SocketMark
// plus MarkSocket).
//
// Counters are the map elements' own counters, updated by that lookup:
// per side, once per packet where it enters (prerouting from a device, or
// output from a local socket). They start at zero on each Add.
//
// # Host settings
//
// Open refuses (ErrUnsupported) unless the namespace forwards
// (net.ipv4.ip_forward=1, or net.ipv6.conf.all.forwarding=1) and, for IPv4,
// accepts packets from its own addresses (net.ipv4.conf.all.accept_local=1):
// a rewritten packet carries the relay's address as its source when it is
// routed, which IPv4 input routing otherwise drops as martian. kmod checks
// these and never sets them. Strict reverse-path filtering (rp_filter=1)
// drops rewritten packets whose new source address sits on another
// interface than the one they arrived on; use loose mode (2) or 0 there
// (Open logs a warning when conf/all says strict).
// Forwarded media passes the forward hook untracked: a filter chain there
// with policy drop (Docker, firewalld) must accept it, and a rule accepting
// only "ct state established" does not.
//
// `nft list ruleset` shows the table, but the nft CLI has no syntax for
// writing several header fields from one map lookup: it prints raw payload
// writes it cannot read back. A saved ruleset must leave mediad_N out;
// mediad rebuilds its table on start.
//
// # Lifecycle and safety
//
// Open replaces a table of the same name in one atomic batch (a stale table
// of a crashed instance included). An flock per network namespace, family
// and table keeps a second live instance from replacing the first
// (ErrBusy). After kill -9 the orphaned table keeps forwarding until the
// next Open or until someone deletes it: google/nftables v0.3.0 cannot set
// the table owner flag that would let the kernel drop it with the process.
// A daemon starting with the kernel path disabled calls Purge instead.
package kmod
