package call

import (
	"net/netip"
	"strconv"
	"strings"

	"sipmedia/mediad/internal/relay"
	"sipmedia/mediad/internal/sdp"
)

// BlockAction is one of rtpengine's media blocking commands.
type BlockAction uint8

const (
	BlockMedia   BlockAction = iota // block media / unblock media
	SilenceMedia                    // silence media / unsilence media
	BlockDTMF                       // block DTMF / unblock DTMF
)

// Party names the call, and the party in it, that a block or forwarding
// command is for, as rtpengine's media_block_match does: Label, else
// Address (an address a party's SDP advertised), else FromTag; with none
// of them, or with All, the whole call.
type Party struct {
	CallID, FromTag, Label, Address string
	// All: the whole call, and on turning off, every party's own
	// setting too.
	All bool
}

// BlockParams is a block, unblock, silence or unsilence command.
type BlockParams struct {
	Party
	Action BlockAction
	On     bool
}

// blocking is the state block commands leave on a call or a party.
type blocking struct{ media, silence, dtmf bool }

func (b *blocking) set(a BlockAction, on bool) {
	switch a {
	case BlockMedia:
		b.media = on
	case SilenceMedia:
		b.silence = on
	case BlockDTMF:
		b.dtmf = on
	}
}

// blockingOf is what applies to m's media: the call's and its own.
func (c *Call) blockingOf(m *Monologue) blocking {
	return blocking{
		media:   c.block.media || m.block.media,
		silence: c.block.silence || m.block.silence,
		dtmf:    c.block.dtmf || m.block.dtmf,
	}
}

// relay is the relay's Block for what a party sends on media a, whose
// peer media is b (nil if none): nil when nothing is blocked.
func (b blocking) relay(a, peer *Media) *relay.Block {
	if !b.media && !b.silence && !b.dtmf {
		return nil
	}
	rb := &relay.Block{Media: b.media, DTMF: b.dtmf, Silence: b.silence && !a.Passthru}
	// The sender numbers its payload types as either SDP does.
	rb.Payloads = a.payloads
	if peer != nil {
		rb.Payloads.Merge(&peer.payloads)
	}
	return rb
}

// Block carries out a block, unblock, silence or unsilence command as
// rtpengine 10.5 does: a party's flag or the call's, which the relay
// applies to RTP from then on; blocked streams leave the kernel.
func (r *Registry) Block(p BlockParams) error {
	if p.Action > BlockDTMF {
		return errUnknownAction
	}
	c, m, err := r.lockParty(p.Party)
	if err != nil {
		return err
	}
	defer c.mu.Unlock()
	if m != nil {
		m.block.set(p.Action, p.On)
	} else {
		c.block.set(p.Action, p.On)
		if !p.On && p.All {
			for _, ml := range c.monologues {
				ml.block.set(p.Action, false)
			}
		}
	}
	for _, ml := range c.monologues {
		blk := c.blockingOf(ml)
		for i, md := range ml.Medias {
			var peer *Media
			if ml.peer != nil && i < len(ml.peer.Medias) {
				peer = ml.peer.Medias[i]
			}
			if s := md.Streams[0]; s != nil && s.rs != nil {
				s.rs.SetBlock(blk.relay(md, peer))
			}
		}
	}
	r.kernelizeLocked(c)
	return nil
}

// lockParty returns p's call, locked, and the party p names (nil: the
// whole call).
func (r *Registry) lockParty(p Party) (*Call, *Monologue, error) {
	c := r.lookup(p.CallID)
	if c == nil {
		return nil, nil, ErrUnknownCall
	}
	if p.All {
		return c, nil, nil
	}
	m, err := c.party(p)
	if err != nil {
		c.mu.Unlock()
		return nil, nil, err
	}
	return c, m, nil
}

// party is the party p names in c, nil for the whole call.
func (c *Call) party(p Party) (*Monologue, error) {
	switch {
	case p.Label != "":
		for _, m := range c.monologues {
			if m.Label == p.Label {
				return m, nil
			}
		}
		return nil, ErrUnknownLabel
	case p.Address != "":
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			return nil, ErrBadAddress
		}
		for _, m := range c.monologues {
			for _, md := range m.Medias {
				if s := md.Streams[0]; s != nil && s.Advertised.Addr().Unmap() == a.Unmap() {
					return m, nil
				}
			}
		}
		return nil, ErrAddressNoTag
	case p.FromTag != "":
		if m := c.byTag(p.FromTag); m != nil {
			return m, nil
		}
		return nil, ErrUnknownTag
	}
	return nil, nil
}

// classifyPayloads reads which of a media section's payload types carry
// DTMF events, their clock rates, which are G.711, and which codecs have
// a silence pattern (rtpengine's
// codec_defs: PCMA 0xd5, PCMU 0xff, G722 0xfa). It runs for every SDP,
// so it reads the lines in place, without allocating.
func classifyPayloads(m *sdp.Media) relay.Payloads {
	var p relay.Payloads
	var mapped [2]uint64 // payload types with an a=rtpmap
	for _, l := range m.Lines {
		v, ok := strings.CutPrefix(l.Value, "rtpmap:")
		if l.Type != 'a' || !ok {
			continue
		}
		pt, enc, _ := strings.Cut(v, " ")
		if n, err := strconv.Atoi(pt); err == nil && n >= 0 && n < 128 {
			mapped[n>>6] |= 1 << (n & 63)
			classify(&p, uint8(n), enc)
		}
	}
	for _, f := range m.Formats {
		if n, err := strconv.Atoi(f); err == nil && n >= 0 && n < 128 && mapped[n>>6]&(1<<(n&63)) == 0 {
			classify(&p, uint8(n), staticCodec(f))
		}
	}
	return p
}

// classify notes payload type pt of encoding enc ("name/clock[/...]").
func classify(p *relay.Payloads, pt uint8, enc string) {
	name, rest, _ := strings.Cut(enc, "/")
	clock, _, _ := strings.Cut(rest, "/")
	hz, _ := strconv.ParseUint(clock, 10, 32)
	switch {
	case strings.EqualFold(name, "telephone-event"):
		p.SetEvent(pt, uint32(hz))
	case strings.EqualFold(name, "PCMU"):
		p.SetSilence(pt, 0xff)
		p.SetCodec(pt, uint32(hz), 'u')
	case strings.EqualFold(name, "PCMA"):
		p.SetSilence(pt, 0xd5)
		p.SetCodec(pt, uint32(hz), 'a')
	case strings.EqualFold(name, "G722"):
		p.SetSilence(pt, 0xfa)
		p.SetCodec(pt, uint32(hz), 0)
	default:
		p.SetCodec(pt, uint32(hz), 0)
	}
}
