package kmod

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// Family selects the IP version of an Offloader's table. One Offloader
// handles one family; a dual-stack daemon opens two.
type Family uint8

// Supported families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ip"
	case IPv6:
		return "ip6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Config describes the table an Offloader owns. The zero Family means IPv4.
type Config struct {
	// Table is rtpengine's -t/--table number (0..127). It names the nftables
	// table (see TableName), so two daemons with different tables never
	// touch each other's flows.
	// A negative -t disables the kernel path: the caller does not call Open.
	Table int
	// Family is IPv4 (default) or IPv6.
	Family Family
	// PortMin and PortMax are the relay's media port range (inclusive).
	// Packets to or from these ports that are not offloaded are kept out of
	// conntrack (notrack), as offloaded ones are.
	PortMin, PortMax int
	// SocketMark, when non-zero, is the SO_MARK the relay sets on its media
	// sockets (see MarkSocket). Then only packets of those sockets are kept
	// out of conntrack, and other local UDP traffic in the port range (the
	// ephemeral range often overlaps it) keeps its conntrack state. When
	// zero the whole port range is notrack unless offloaded.
	SocketMark uint32
	// TOS, when non-zero, is written into every offloaded packet's IPv4
	// TOS byte (IPv6 traffic class), as the relay's sockets set it on what
	// they send (rtpengine's --tos, which its kernel module applies too).
	TOS uint8
	// NetNS, when non-zero, is a network namespace fd to program instead of
	// the caller's own (tests and tools).
	NetNS int
	// Log receives lifecycle lines; nil discards them.
	Log *slog.Logger
}

// TableName is the nftables table name for rtpengine-style table number n.
func TableName(n int) string { return fmt.Sprintf("mediad_%d", n) }

// Flow is one bidirectional leg pair relayed by the daemon:
//
//	PeerA <-> LocalA (relay) ... LocalB (relay) <-> PeerB
//
// Packets from PeerA to LocalA go to PeerB from LocalB and back. Both peers
// must already be latched: the kernel matches the exact source address and
// port, so a packet from anywhere else still reaches the bound socket.
type Flow struct {
	LocalA, PeerA netip.AddrPort
	LocalB, PeerB netip.AddrPort
}

// FlowKey identifies an offloaded flow by its two local relay endpoints.
type FlowKey struct{ LocalA, LocalB netip.AddrPort }

// Key returns the flow's identity.
func (f Flow) Key() FlowKey { return FlowKey{f.LocalA, f.LocalB} }

func (f Flow) String() string {
	return fmt.Sprintf("%s<->%s ... %s<->%s", f.PeerA, f.LocalA, f.LocalB, f.PeerB)
}

// Counter is a packet and byte count. Bytes are IP datagram lengths
// (IP header included), as the kernel counts them.
type Counter struct {
	Packets, Bytes uint64
}

// Add returns the sum of two counters.
func (c Counter) Add(o Counter) Counter {
	return Counter{c.Packets + o.Packets, c.Bytes + o.Bytes}
}

// Stats are the kernel's per-direction counters for one flow: packets
// received from A (and forwarded to B) and packets received from B.
type Stats struct {
	FromA, FromB Counter
}

// Total is the sum of both directions.
func (s Stats) Total() Counter { return s.FromA.Add(s.FromB) }
