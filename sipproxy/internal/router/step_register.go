package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/nat"
	"sipmedia/sipproxy/internal/registrar"
)

// register is the REGISTER block: setbflag(DST_WS) when SRC_WS,
// fix_nated_register(), save("location") or sl_reply_error().
type register struct{ r *Router }

func (register) Name() string { return "save(location)" }

func (s register) Serve(ctx context.Context, c *Ctx) Result {
	if c.Req.Method != "REGISTER" {
		return Next
	}
	if c.SrcWS {
		c.DstWS = true
	}
	sr, err := saveRequest(c)
	if err != nil {
		c.Reply(400, "Bad Request")
		return Stop
	}
	sr.DstWS = c.DstWS
	sr.Received = nat.ReceivedURI(c.Source, c.Proto)
	bs, err := s.r.reg.Save(ctx, sr)
	if err != nil {
		var re *registrar.Error
		if errors.As(err, &re) {
			res := sip.NewResponseFromRequest(c.Orig, re.Code, re.Reason, nil)
			if re.Info != "" {
				res.AppendHeader(sip.NewHeader("P-Registrar-Error", re.Info))
			}
			c.ReplyWith(res)
		} else {
			c.Reply(500, "Server Internal Error")
		}
		return Stop
	}
	res := sip.NewResponseFromRequest(c.Orig, 200, "OK", nil)
	for _, b := range bs {
		var u sip.Uri
		if err := sip.ParseUri(b.Contact, &u); err != nil {
			continue
		}
		p := sip.NewParams()
		p.Add("expires", strconv.Itoa(s.r.reg.Remaining(b)))
		if b.Q >= 0 {
			p.Add("q", strconv.FormatFloat(b.Q, 'f', -1, 64))
		}
		res.AppendHeader(&sip.ContactHeader{Address: u, Params: p})
	}
	c.ReplyWith(res)
	return Stop
}

// saveRequest extracts what save("location") needs from c.Req (whose
// Contacts fix_nated_contact already rewrote).
func saveRequest(c *Ctx) (registrar.SaveRequest, error) {
	req := c.Req
	sr := registrar.SaveRequest{
		AOR:     req.To().Address.User,
		Expires: -1,
		CallID:  req.CallID().Value(),
		CSeq:    req.CSeq().SeqNo,
		Socket:  strings.ToLower(c.In.Proto) + ":" + c.In.Addr(),
	}
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			return sr, fmt.Errorf("bad Expires %q", h.Value())
		}
		sr.Expires = v
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		sr.UserAgent = h.Value()
	}
	if allow := req.GetHeaders("Allow"); len(allow) > 0 {
		sr.Methods = []string{}
		for _, h := range allow {
			for _, m := range strings.Split(h.Value(), ",") {
				if m = strings.TrimSpace(m); m != "" {
					sr.Methods = append(sr.Methods, strings.ToUpper(m))
				}
			}
		}
	}
	for _, h := range req.GetHeaders("Contact") {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return sr, errors.New("unparsed Contact")
		}
		if ch.Address.Wildcard {
			sr.Star = true
			continue
		}
		in := registrar.ContactIn{URI: ch.Address.String()}
		in.Q, _ = ch.Params.Get("q")
		in.Expires, _ = ch.Params.Get("expires")
		in.Instance, _ = ch.Params.Get("+sip.instance")
		sr.Contacts = append(sr.Contacts, in)
	}
	return sr, nil
}
