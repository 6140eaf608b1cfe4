// Package kmod owns mediad's kernel fast path: an nftables table with maps
// and conntrack NAT, programmed over netlink, that forwards established
// plain-RTP flows without userspace. It needs no kernel module beyond
// nf_tables, nf_nat and nf_conntrack. It knows nothing about calls or SDP:
// the relay decides what to offload and when to take it back.
//
// # Use
//
//	off, err := kmod.Open(ctx, kmod.Config{Table: 0, PortMin: 30000, PortMax: 40000, Log: log})
//	// errors.Is(err, kmod.ErrPermission / ErrUnsupported / ErrBusy): log one line, stay in userspace
//	err = off.Add(kmod.Flow{LocalA: la, PeerA: a, LocalB: lb, PeerB: b}) // both peers latched
//	st, err := off.Counters(flow)                                         // one flow: one round trip
//	all, err := off.AllCounters()                                         // every flow: one dump
//	final, err := off.RemoveStats(flow)                                   // back to the bound sockets
//	off.Close()                                                           // table and entries gone
//
// A nil *Offloader is the disabled path (ErrDisabled), so the daemon can
// hold one unconditionally. One Offloader serves one family (IPv4 or IPv6). RTP and RTCP on separate
// ports are two Flows. A flow must be removed when it stops being a plain
// two-way relay: re-latching (Add with new peers replaces it), hold or
// one-way media, SRTP or ICE on either side, delete, timeout. Add and Remove
// cost netlink round trips (about 0.3-2 ms here): call them from
// signalling, never from the packet loop.
//
// # How a packet goes
//
// The relay keeps its sockets bound. Per flow the table holds a leg key
// (peer address . peer port . local address . local port) for each side,
// mapping to a conntrack mark; the first packet from either side sets the
// mark, is DNATed to the other peer and SNATed to the other local endpoint,
// creating one conntrack entry. Every later packet in both directions is
// forwarded by conntrack alone. Packets that match no key (a peer that moved,
// a flow not offloaded) reach the socket: the relay can re-latch.
//
// Ports still in userspace are kept out of conntrack (notrack), so no entry
// created in the userspace phase can later shadow the NAT chains. Two modes:
// the whole port range (Config.SocketMark zero, the reference design; the
// range must then be the relay's alone, since the ephemeral port range often
// overlaps it), or only the relay's own sockets, marked with SO_MARK
// (Config.SocketMark plus MarkSocket). Add also deletes any entry of the
// flow's tuples created before its keys existed; Remove deletes the elements
// and then the flow's entry, so the next packet goes to userspace.
//
// Counters are per-element counters on the leg keys themselves (a set
// holding the same keys as the leg map): the raw chains look every packet
// up once, before conntrack, where it enters (prerouting from a device, or
// output from a local socket, so peers on this host are covered too); a hit
// counts it and leaves it tracked, a miss on a relay port makes it notrack.
// They start at zero on each Add.
//
// # Lifecycle and safety
//
// Open replaces a table of the same name in one atomic batch (a stale table
// of a crashed instance included), then flushes the conntrack entries tagged
// with this table's marks (top byte 0x80|Table). An flock per network
// namespace, family and table keeps a second live instance from replacing
// the first (ErrBusy). Open refuses (ErrUnsupported) when forwarding is off
// in the namespace. After kill -9 the orphaned table keeps forwarding until
// the next Open or until someone deletes it: google/nftables v0.3.0 cannot
// set the table owner flag that would let the kernel drop it with the process.
// A daemon starting with the kernel path disabled calls Purge instead.
//
// A filter chain with policy drop on the forward hook in another table
// (Docker, firewalld) still drops forwarded media: accept it there.
package kmod
