package kmod

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The table (IPv4 shown; ip6 is the same with 16-byte addresses, no header
// checksum, and "ip6 nexthdr udp" instead of the fragment test):
//
//	table ip mediad_N {
//	  map leg { type ipv4_addr . ipv4_addr . mark : ipv4_addr . ipv4_addr . mark; counter }
//	      # latched peer . local addr . peer port,local port (2+2 bytes, listed
//	      # as a mark) -> new saddr . new daddr . new sport,dport;
//	      # each element counts the packets its side sends
//	  chain raw_pre { type filter hook prerouting priority raw;
//	      udp dport RANGE, not a fragment, iiftype != loopback,
//	        ip saddr . ip daddr . udp sport,dport map @leg ->
//	        ip saddr . ip daddr set (header and UDP checksums), udp sport . udp dport set,
//	        [ip tos set TOS, with Config.TOS], notrack, accept
//	      udp dport RANGE, iiftype != loopback, fib daddr local (or: socket mark SOCKMARK) -> notrack
//	      udp dport RANGE, iiftype loopback, key !@leg, the same -> notrack }
//	  chain raw_out { type route hook output priority raw;
//	      the first rule without the iiftype test (peers on this host; the
//	        route chain routes the packet again for its new addresses)
//	      udp sport RANGE -> notrack; udp dport RANGE, fib daddr local -> notrack
//	      (or: meta mark SOCKMARK -> notrack) }
//	}
//
// Offloaded packets are rewritten before conntrack and routing, and are
// never tracked: one map lookup per packet. Everything else to or from the
// relay's ports is notrack as well, so conntrack (when another table turns
// it on) never holds the relay's traffic.

// Register numbers: NFT_REG32_00 is 8; a concatenation occupies
// consecutive 32-bit registers, each part padded to 4 bytes.
const reg0 = unix.NFT_REG32_00

// famSpec holds what differs between ip and ip6.
type famSpec struct {
	table   nftables.TableFamily
	addrLen int
	saddrAt uint32 // network header offset; daddr follows
	addrTyp nftables.SetDatatype
}

func specFor(f Family) famSpec {
	if f == IPv6 {
		return famSpec{nftables.TableFamilyIPv6, 16, 8, nftables.TypeIP6Addr}
	}
	return famSpec{nftables.TableFamilyIPv4, 4, 12, nftables.TypeIPAddr}
}

// words is the register count of one address.
func (s famSpec) words() uint32 { return uint32(s.addrLen / 4) }

// regPorts is the register of the ports in a tuple (see tuple): the
// addresses come first, from reg0.
func (s famSpec) regPorts() uint32 { return reg0 + 2*s.words() }

// ruleset is the table and its map as sent in the creating batch.
type ruleset struct {
	table *nftables.Table
	leg   *nftables.Set
}

func newRuleset(name string, spec famSpec) *ruleset {
	t := &nftables.Table{Name: name, Family: spec.table}
	// Key and value are both tuples saddr . daddr . sport,dport, in the
	// order of the headers: one load (or write) covers both addresses, one
	// both ports. nft has no 4-byte port-pair type, so listings show the
	// ports as a mark.
	tuple := nftables.MustConcatSetType(spec.addrTyp, spec.addrTyp, nftables.TypeMark)
	return &ruleset{
		table: t,
		// Counter: every element added gets its own counter, which the
		// lookup updates for each packet it rewrites.
		leg: &nftables.Set{Table: t, Name: "leg", IsMap: true, Concatenation: true, Counter: true,
			KeyType: tuple, DataType: tuple},
	}
}

// install queues, in one batch, the replacement of any table of the same
// name (add, delete, add: atomic and idempotent) and the whole ruleset.
func (rs *ruleset) install(c *nftables.Conn, spec famSpec, pmin, pmax uint16, sockMark uint32, tos uint8) error {
	c.AddTable(rs.table)
	c.DelTable(rs.table)
	c.AddTable(rs.table)
	if err := c.AddSet(rs.leg, nil); err != nil {
		return err
	}
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: rs.table, Type: typ,
			Hooknum: hook, Priority: prio, Policy: ptr(nftables.ChainPolicyAccept)})
	}
	rule := func(ch *nftables.Chain, ex ...[]expr.Any) {
		var all []expr.Any
		for _, e := range ex {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: rs.table, Chain: ch, Exprs: all})
	}
	udp := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
	}
	// Offloaded packets must carry their UDP header right behind a fixed
	// header and be whole datagrams: a rewritten first fragment would leave
	// the others to a reassembly that never completes. Fragments and IPv6
	// extension headers (not seen in RTP) go to the socket instead.
	plainUDP := []expr.Any{ // ip6 nexthdr udp
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
	}
	if spec.addrLen == 4 {
		// One load of frag-off . ttl . protocol: neither more fragments
		// nor an offset, and UDP.
		plainUDP = []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{0x3f, 0xff, 0, 0xff}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, unix.IPPROTO_UDP}},
		}
	}
	inRange := func(off uint32) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1,
				FromData: binaryutil.BigEndian.PutUint16(pmin), ToData: binaryutil.BigEndian.PutUint16(pmax)},
		}
	}
	sportInRange, dportInRange := inRange(0), inRange(2)
	al := uint32(spec.addrLen)
	// The packet's tuple, the leg map's key.
	key := []expr.Any{
		&expr.Payload{DestRegister: reg0, Base: expr.PayloadBaseNetworkHeader, Offset: spec.saddrAt, Len: 2 * al},
		&expr.Payload{DestRegister: spec.regPorts(), Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 4},
	}
	notLeg := []expr.Any{&expr.Lookup{SourceRegister: reg0, SetName: rs.leg.Name, SetID: rs.leg.ID, Invert: true}}
	daddrLocal := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
	iifLoopback := func(op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_LOOPBACK)},
		}
	}
	notrack := []expr.Any{&expr.Notrack{}}
	accept := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}

	// The forwarding rule: the lookup counts the packet on its sender's
	// element and loads the rewrite (new saddr . new daddr . ports) into
	// the registers the key came from; two writes apply it.
	//
	// Checksums: the address write updates the IPv4 header checksum and, by
	// the pseudo-header flag, the UDP checksum (the kernel leaves a zero,
	// i.e. absent, IPv4 UDP checksum alone and handles CHECKSUM_PARTIAL).
	// The port write needs the same UDP update without a header checksum,
	// but google/nftables v0.3.0 sends the flags only with a checksum type:
	// it names "inet" with the checksum offset inside the bytes being
	// written, so the write itself overwrites that field (the kernel takes
	// both sums before it changes anything, and stores the data last). The
	// IPv6 address write, with no header checksum, does the same.
	addrCsum := spec.saddrAt // IPv6: inside the written addresses
	if spec.addrLen == 4 {
		addrCsum = 10 // the IPv4 header checksum
	}
	forward := []expr.Any{
		&expr.Lookup{SourceRegister: reg0, DestRegister: reg0, IsDestRegSet: true, SetName: rs.leg.Name, SetID: rs.leg.ID},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: reg0, Base: expr.PayloadBaseNetworkHeader,
			Offset: spec.saddrAt, Len: 2 * al, CsumType: expr.CsumTypeInet, CsumOffset: addrCsum,
			CsumFlags: unix.NFT_PAYLOAD_L4CSUM_PSEUDOHDR},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: spec.regPorts(), Base: expr.PayloadBaseTransportHeader,
			Offset: 0, Len: 4, CsumType: expr.CsumTypeInet, CsumOffset: 0,
			CsumFlags: unix.NFT_PAYLOAD_L4CSUM_PSEUDOHDR},
	}
	if tos != 0 {
		forward = append(forward, setTOS(spec, tos)...)
	}

	// Packets enter once: from a device (prerouting; on loopback they come
	// back from output, already rewritten and counted there) or from a local
	// socket (output; peers on this host). The raw priority runs before
	// conntrack and before routing; the output chain is of type route, so
	// the kernel routes the rewritten packet again.
	rawPre := chain("raw_pre", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw)
	rawOut := chain("raw_out", nftables.ChainTypeRoute, nftables.ChainHookOutput, nftables.ChainPriorityRaw)
	rule(rawPre, plainUDP, dportInRange, iifLoopback(expr.CmpOpNeq), key, forward, notrack, accept)
	rule(rawOut, plainUDP, dportInRange, key, forward, notrack, accept)

	// Not offloaded: keep the relay's userspace traffic out of conntrack.
	// No offloadable packet from a device, nor from a local socket in
	// raw_out, gets here: their keys matched above.
	if sockMark != 0 {
		// Only the relay's own sockets: packets it sends (skb mark from
		// SO_MARK) and packets to it.
		markIs := func(e expr.Any) []expr.Any {
			return []expr.Any{e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(sockMark)}}
		}
		sockMarked := markIs(&expr.Socket{Key: expr.SocketKeyMark, Register: 1})
		rule(rawPre, udp, dportInRange, iifLoopback(expr.CmpOpNeq), sockMarked, notrack)
		rule(rawPre, udp, dportInRange, iifLoopback(expr.CmpOpEq), key, notLeg, sockMarked, notrack)
		rule(rawOut, udp, markIs(&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}), notrack)
	} else {
		// The whole port range (the reference design): the range must be
		// the relay's alone, or other local UDP traffic loses conntrack.
		rule(rawPre, udp, dportInRange, iifLoopback(expr.CmpOpNeq), daddrLocal, notrack)
		rule(rawPre, udp, dportInRange, iifLoopback(expr.CmpOpEq), key, notLeg, daddrLocal, notrack)
		rule(rawOut, udp, sportInRange, notrack)
		rule(rawOut, udp, dportInRange, daddrLocal, notrack)
	}
	return nil
}

// setTOS writes the TOS byte (IPv6: the traffic class) as nft's "ip dscp
// set" does: the first two header bytes are loaded, masked and written
// back, an aligned write whose IPv4 header checksum update is exact. The
// lookup's registers are free again by then.
func setTOS(spec famSpec, tos uint8) []expr.Any {
	mask, xor := []byte{0xff, 0}, []byte{0, tos} // version . ihl, tos
	write := &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader,
		Offset: 0, Len: 2, CsumType: expr.CsumTypeInet, CsumOffset: 10}
	if spec.addrLen == 16 {
		// version(4) . traffic class(8) . flow label(4 of 20); no checksum
		mask, xor = []byte{0xf0, 0x0f}, []byte{tos >> 4, tos << 4}
		write.CsumType, write.CsumOffset = expr.CsumTypeNone, 0
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: mask, Xor: xor},
		write,
	}
}

func ptr[T any](v T) *T { return &v }

// tuple encodes a packet from src to dst as the leg map holds it (key: as
// received, value: as sent): saddr . daddr . sport . dport, addresses and
// ports in network byte order, exactly the bytes of the headers.
func (s famSpec) tuple(src, dst addrPort) []byte {
	out := make([]byte, 0, 2*s.addrLen+4)
	out = append(append(out, src.addr...), dst.addr...)
	return append(out, byte(src.port>>8), byte(src.port), byte(dst.port>>8), byte(dst.port))
}

// addrPort is an address in wire form plus a port.
type addrPort struct {
	addr []byte
	port uint16
}
