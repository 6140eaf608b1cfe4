package router

import (
	"context"
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/registrar"
)

// lookup is lookup("location","m"): the highest-q contact becomes the
// R-URI, its received address $du, its branch flags (DST_WS) and socket are
// restored, the other contacts become parallel branches. No contact (or
// none allowing the method): t_newtran(); t_reply("404","Not Found").
type lookup struct{ r *Router }

func (lookup) Name() string { return "lookup(location)" }

func (s lookup) Serve(ctx context.Context, c *Ctx) Result {
	bs, err := s.r.reg.Lookup(ctx, c.Req.Recipient.User, string(c.Req.Method))
	if err != nil {
		if !errors.Is(err, registrar.ErrNotFound) && !errors.Is(err, registrar.ErrMethodFiltered) {
			s.r.log.Warn("lookup failed", "error", err, "call-id", c.callID())
		}
		if !c.Req.IsAck() {
			c.Reply(404, "Not Found")
		}
		return Stop
	}
	c.Branches = c.Branches[:0]
	for i, b := range bs {
		br, ok := s.r.branchFromBinding(b)
		if !ok {
			continue
		}
		if i == 0 {
			c.Req.Recipient = br.URI
			c.DstURI = br.Dst
			c.DstWS = br.DstWS
			c.OutSocket = br.Socket
		}
		c.Branches = append(c.Branches, br)
	}
	if len(c.Branches) == 0 {
		c.Reply(404, "Not Found")
		return Stop
	}
	return Next
}

func (r *Router) branchFromBinding(b registrar.Binding) (Branch, bool) {
	var br Branch
	if err := sip.ParseUri(b.Contact, &br.URI); err != nil {
		return br, false
	}
	if b.Received != "" {
		var d sip.Uri
		if err := sip.ParseUri(b.Received, &d); err == nil {
			br.Dst = &d
			tp, _ := d.UriParams.Get("transport")
			br.Flow = tp != "" && !strings.EqualFold(tp, "udp")
		}
	}
	br.DstWS = b.DstWS
	if proto, addr, ok := strings.Cut(b.Socket, ":"); ok {
		for _, s := range r.sockets.Sockets() {
			if s.Proto == proto && s.Addr() == addr {
				s := s
				br.Socket = &s
			}
		}
	}
	return br, true
}
