package kmod

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The table (IPv4 shown; ip6 is the same with 16-byte addresses):
//
//	table ip mediad_N {
//	  set leg_rx { type ipv4_addr . inet_service . ipv4_addr . inet_service; counter }
//	           # latched peer . peer port . local addr . local port,
//	           # each element counting the packets its side sends
//	  map leg  { type (the same) : mark }   # leg key -> conntrack mark
//	  map dnat_to { type mark : ipv4_addr . inet_service }   # mark -> peer to send to
//	  map snat_to { type mark : ipv4_addr . inet_service }   # mark -> local endpoint to send from
//	  chain raw_pre  { prerouting, raw: udp dport RANGE, iiftype != loopback, key @leg_rx -> accept (counted);
//	                   udp dport RANGE, fib daddr local (or: socket mark SOCKMARK) -> notrack
//	                   (on loopback only if key !@leg_rx) }
//	  chain raw_out  { output, raw: udp dport RANGE, key @leg_rx -> accept (counted);
//	                   udp sport RANGE -> notrack;
//	                   udp dport RANGE, fib daddr local -> notrack
//	                   (or: meta mark SOCKMARK -> notrack) }
//	  chain nat_pre  { prerouting, dstnat: udp dport RANGE, ct mark set key map @leg,
//	                   dnat to ct mark map @dnat_to }
//	  chain nat_out  { output, dstnat: same (peers on this host) }
//	  chain nat_post { postrouting, srcnat: snat to ct mark map @snat_to }
//	  chain nat_in   { input, srcnat: same (peer B on this host) }
//	}
//
// NAT chains see only the first packet of a conntrack entry; every later
// packet of the flow is forwarded by conntrack alone. The raw chains run
// before conntrack, on the packet as its sender wrote it, so the one leg
// lookup there both counts the packet and decides notrack.

// Register numbers: NFT_REG32_00 is 8; a concatenation occupies
// consecutive 32-bit registers, each part padded to 4 bytes.
const reg0 = unix.NFT_REG32_00

// famSpec holds what differs between ip and ip6.
type famSpec struct {
	table   nftables.TableFamily
	nfproto uint32
	addrLen int
	saddrAt uint32 // network header offsets
	daddrAt uint32
	addrTyp nftables.SetDatatype
}

func specFor(f Family) famSpec {
	if f == IPv6 {
		return famSpec{nftables.TableFamilyIPv6, unix.NFPROTO_IPV6, 16, 8, 24, nftables.TypeIP6Addr}
	}
	return famSpec{nftables.TableFamilyIPv4, unix.NFPROTO_IPV4, 4, 12, 16, nftables.TypeIPAddr}
}

// words is the register count of one address.
func (s famSpec) words() uint32 { return uint32(s.addrLen / 4) }

// Register layout of an addr . port . addr . port concatenation (the leg
// key); a NAT target addr . port uses the first two.
func (s famSpec) regAddr1() uint32 { return reg0 }
func (s famSpec) regPort1() uint32 { return reg0 + s.words() }
func (s famSpec) regAddr2() uint32 { return reg0 + s.words() + 1 }
func (s famSpec) regPort2() uint32 { return reg0 + 2*s.words() + 1 }

// ruleset is the table and its sets as sent in the creating batch.
type ruleset struct {
	table                  *nftables.Table
	leg, legMark, dst, src *nftables.Set
}

func newRuleset(name string, spec famSpec) *ruleset {
	t := &nftables.Table{Name: name, Family: spec.table}
	quad := nftables.MustConcatSetType(spec.addrTyp, nftables.TypeInetService, spec.addrTyp, nftables.TypeInetService)
	pair := nftables.MustConcatSetType(spec.addrTyp, nftables.TypeInetService)
	return &ruleset{
		table: t,
		// Counter: every element added gets its own counter, which the
		// lookup in raw_pre/raw_out updates.
		leg: &nftables.Set{Table: t, Name: "leg_rx", Concatenation: true, Counter: true, KeyType: quad},
		// The same keys without counters for the NAT chains: any lookup
		// that finds an element updates its counter, and NAT's lookup of
		// each entry's first packet would count that packet twice.
		legMark: &nftables.Set{Table: t, Name: "leg", IsMap: true, Concatenation: true,
			KeyType: quad, DataType: nftables.TypeMark},
		dst: &nftables.Set{Table: t, Name: "dnat_to", IsMap: true,
			KeyType: nftables.TypeMark, DataType: pair, KeyByteOrder: binaryutil.NativeEndian},
		src: &nftables.Set{Table: t, Name: "snat_to", IsMap: true,
			KeyType: nftables.TypeMark, DataType: pair, KeyByteOrder: binaryutil.NativeEndian},
	}
}

// install queues, in one batch, the replacement of any table of the same
// name (add, delete, add: atomic and idempotent) and the whole ruleset.
func (rs *ruleset) install(c *nftables.Conn, spec famSpec, pmin, pmax uint16, sockMark uint32) error {
	c.AddTable(rs.table)
	c.DelTable(rs.table)
	c.AddTable(rs.table)
	for _, s := range []*nftables.Set{rs.leg, rs.legMark, rs.dst, rs.src} {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
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
	inRange := func(off uint32) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1,
				FromData: binaryutil.BigEndian.PutUint16(pmin), ToData: binaryutil.BigEndian.PutUint16(pmax)},
		}
	}
	sportInRange, dportInRange := inRange(0), inRange(2)
	al := uint32(spec.addrLen)
	// Packet key saddr . sport . daddr . dport, the leg map's key layout.
	key := []expr.Any{
		&expr.Payload{DestRegister: spec.regAddr1(), Base: expr.PayloadBaseNetworkHeader, Offset: spec.saddrAt, Len: al},
		&expr.Payload{DestRegister: spec.regPort1(), Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Payload{DestRegister: spec.regAddr2(), Base: expr.PayloadBaseNetworkHeader, Offset: spec.daddrAt, Len: al},
		&expr.Payload{DestRegister: spec.regPort2(), Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
	isLeg := []expr.Any{&expr.Lookup{SourceRegister: reg0, SetName: rs.leg.Name, SetID: rs.leg.ID}}
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

	// Per-packet accounting: a packet of an offloaded flow matches its
	// sender's leg key where it enters, from a device (prerouting) or from a
	// local socket (output), and the lookup counts it on that element. On
	// loopback, prerouting sees again what output already counted (with the
	// NATed header, so it would not match anyway), hence not counted there.
	// The match ends the chain: the packet stays tracked, for the NAT chains.
	rawPre := chain("raw_pre", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw)
	rawOut := chain("raw_out", nftables.ChainTypeFilter, nftables.ChainHookOutput, nftables.ChainPriorityRaw)
	rule(rawPre, udp, dportInRange, iifLoopback(expr.CmpOpNeq), key, isLeg, accept)
	rule(rawOut, udp, dportInRange, key, isLeg, accept)
	// What follows sees no offloaded packet from a device (nor from a local
	// socket in raw_out): their keys matched above.
	if sockMark != 0 {
		// Only the relay's own sockets: packets it sends (skb mark from
		// SO_MARK) and packets to it that are not offloaded.
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
		// A leg key always has its local port in the range, so a packet
		// here (no key matched) is not offloaded, whatever its dport.
		rule(rawOut, udp, sportInRange, notrack)
		rule(rawOut, udp, dportInRange, daddrLocal, notrack)
	}

	// First packet of a kernelized flow: mark the entry, DNAT to the peer.
	dnat := []expr.Any{
		&expr.Lookup{SourceRegister: reg0, DestRegister: reg0, IsDestRegSet: true, SetName: rs.legMark.Name, SetID: rs.legMark.ID},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg0, SourceRegister: true},
		// Reload the mark, as nft itself does: the CLI cannot decompile a
		// register reused after a ct set (`nft list` would abort).
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg0},
		&expr.Lookup{SourceRegister: reg0, DestRegister: reg0, IsDestRegSet: true, SetName: rs.dst.Name, SetID: rs.dst.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: spec.nfproto,
			RegAddrMin: spec.regAddr1(), RegProtoMin: spec.regPort1(), Specified: true},
	}
	natPre := chain("nat_pre", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	rule(natPre, udp, dportInRange, key, dnat)
	natOut := chain("nat_out", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	rule(natOut, udp, dportInRange, key, dnat)

	// SNAT to the relay's other local endpoint, found by the entry's mark.
	snat := []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg0},
		&expr.Lookup{SourceRegister: reg0, DestRegister: reg0, IsDestRegSet: true, SetName: rs.src.Name, SetID: rs.src.ID},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: spec.nfproto,
			RegAddrMin: spec.regAddr1(), RegProtoMin: spec.regPort1(), Specified: true},
	}
	natPost := chain("nat_post", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	rule(natPost, udp, snat)
	natIn := chain("nat_in", nftables.ChainTypeNAT, nftables.ChainHookInput, nftables.ChainPriorityNATSource)
	rule(natIn, udp, snat)

	return nil
}

func ptr[T any](v T) *T { return &v }

// Element encodings. Ports are big-endian and padded to 4 bytes; marks and
// ct directions are host-endian, as the kernel registers hold them.

func (s famSpec) appendAddrPort(b []byte, ap addrPort) []byte {
	b = append(b, ap.addr...)
	return append(b, byte(ap.port>>8), byte(ap.port), 0, 0)
}

// quad encodes addr . port . addr . port.
func (s famSpec) quad(a, b addrPort) []byte {
	out := make([]byte, 0, 2*(s.addrLen+4))
	return s.appendAddrPort(s.appendAddrPort(out, a), b)
}

// pair encodes addr . port.
func (s famSpec) pair(a addrPort) []byte {
	return s.appendAddrPort(make([]byte, 0, s.addrLen+4), a)
}

func markBytes(m uint32) []byte { return binaryutil.NativeEndian.PutUint32(m) }

// addrPort is an address in wire form plus a port.
type addrPort struct {
	addr []byte
	port uint16
}
