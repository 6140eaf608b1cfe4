package router

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/transport"
)

// rrURI is our Record-Route entry for socket s, written as OpenSIPS writes
// it: sip:IP[:port][;transport=x];lr — the port left out when it is 5060 and
// the transport when it is UDP.
func rrURI(s transport.Socket, r2 bool) sip.Uri {
	u := sip.Uri{Scheme: "sip", Host: s.IP, UriParams: sip.NewParams()}
	if strings.Contains(s.IP, ":") {
		u.Host = "[" + s.IP + "]"
	}
	if s.Port != 5060 {
		u.Port = s.Port
	}
	if s.Proto != "udp" {
		u.UriParams.Add("transport", s.Proto)
	}
	u.UriParams.Add("lr", "")
	if r2 {
		u.UriParams.Add("r2", "on")
	}
	return u
}

// addRecordRoute prepends our Record-Route for a request received on in and
// sent from out: one entry, or two with r2=on when the sockets differ
// (enable_double_rr; RFC 7118 8.2), the outbound one on top.
func addRecordRoute(req *sip.Request, in, out transport.Socket) {
	if in == out || in.Proto == "" {
		req.PrependHeader(&sip.RecordRouteHeader{Address: rrURI(out, false)})
		return
	}
	req.PrependHeader(
		&sip.RecordRouteHeader{Address: rrURI(out, true)},
		&sip.RecordRouteHeader{Address: rrURI(in, true)},
	)
}

// looseRoute is loose_route(): RFC 3261 16.4 and 16.12 on c.Req. It removes
// our own Route entries (both of a double Record-Route), handles a strict
// previous hop, sets c.DstURI to the next hop and c.OutSocket from r2. It
// returns false when the request has no Route left that is not ours and it
// is an initial request (or had no Route at all).
func looseRoute(c *Ctx) bool {
	req := c.Req
	me := c.r.me
	routes := req.GetHeaders("Route")
	if len(routes) == 0 {
		return false
	}
	top, ok := routes[0].(*sip.RouteHeader)
	if !ok {
		return false
	}
	if !me.URI(&top.Address) {
		if req.Recipient.User == "" && me.URI(&req.Recipient) {
			// 16.4: the previous hop was a strict router and put our
			// Record-Route in the R-URI; the real R-URI is the last Route.
			last := routes[len(routes)-1].(*sip.RouteHeader)
			req.Recipient = *last.Address.Clone()
			removeLastRoute(req)
			return nextHop(c)
		}
		return nextHop(c)
	}
	req.RemoveHeader("Route")
	if _, r2 := top.Address.UriParams.Get("r2"); r2 {
		if second := req.Route(); second != nil && me.URI(&second.Address) {
			tp, _ := second.Address.UriParams.Get("transport")
			if s, ok := me.Socket(second.Address.Host, second.Address.Port, tp); ok {
				c.OutSocket = &s
			}
			req.RemoveHeader("Route")
		}
	}
	if req.Route() == nil {
		// Only our own entries: an initial request is then not routed
		// by loose_route; an in-dialog one goes to its R-URI.
		if !hasTag(req) {
			return false
		}
		c.DstURI = nil
		return true
	}
	return nextHop(c)
}

// nextHop points $du at the top Route, or for a strict next hop moves it
// into the R-URI (RFC 3261 16.6 step 6).
func nextHop(c *Ctx) bool {
	top := c.Req.Route()
	if top == nil {
		return true
	}
	if _, lr := top.Address.UriParams.Get("lr"); lr {
		c.DstURI = top.Address.Clone()
		return true
	}
	old := c.Req.Recipient
	c.Req.Recipient = *top.Address.Clone()
	c.Req.RemoveHeader("Route")
	c.Req.AppendHeader(&sip.RouteHeader{Address: old})
	c.DstURI = nil
	return true
}

func removeLastRoute(req *sip.Request) {
	routes := req.GetHeaders("Route")
	if len(routes) == 0 {
		return
	}
	keep := make([]sip.Header, 0, len(routes)-1)
	for _, h := range routes[:len(routes)-1] {
		keep = append(keep, sip.HeaderClone(h))
	}
	for range routes {
		req.RemoveHeader("Route")
	}
	for _, h := range keep {
		req.AppendHeader(h)
	}
}

func hasTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}
