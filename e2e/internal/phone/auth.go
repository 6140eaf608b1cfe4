package phone

import (
	"fmt"
	"strconv"

	"github.com/icholy/digest"
)

// mayAuth reports whether res asks for credentials (401 or 407) that
// this phone has.
func (p *Phone) mayAuth(res *Msg) bool {
	return p.cfg.Password != "" && (res.Code == 401 || res.Code == 407)
}

// authorize turns req into the request to send again after the challenge
// res: the credentials answering it, a new Via branch and the next CSeq
// (RFC 3261 22.2).
func (p *Phone) authorize(req, res *Msg) error {
	chal, cred := "WWW-Authenticate", "Authorization"
	if res.Code == 407 {
		chal, cred = "Proxy-Authenticate", "Proxy-Authorization"
	}
	c, err := digest.ParseChallenge(res.Get(chal))
	if err != nil {
		return fmt.Errorf("phone %s: %d: %w", p.cfg.User, res.Code, err)
	}
	d, err := digest.Digest(c, digest.Options{Method: req.Method, URI: req.URI, Username: p.cfg.User, Password: p.cfg.Password, Count: 1})
	if err != nil {
		return fmt.Errorf("phone %s: %d: %w", p.cfg.User, res.Code, err)
	}
	n, method := req.CSeq()
	for i, h := range req.Hdrs {
		switch h.Name {
		case "Via":
			req.Hdrs[i] = p.via()
		case "CSeq":
			req.Hdrs[i].Value = strconv.Itoa(n+1) + " " + method
		}
	}
	req.Hdrs = append(req.Hdrs, Hdr{cred, d.String()})
	return nil
}

// ackFailure acknowledges a final non-2xx reply to the INVITE inv, in
// the INVITE's transaction (RFC 3261 17.1.1.3: its Via, the reply's To).
func (p *Phone) ackFailure(inv, res *Msg) error {
	n, _ := inv.CSeq()
	ack := &Msg{Method: "ACK", URI: inv.URI, Hdrs: []Hdr{{"Via", inv.Get("Via")}, {"Max-Forwards", "70"},
		{"From", inv.Get("From")}, {"To", res.Get("To")}, {"Call-ID", inv.Get("Call-ID")}, {"CSeq", strconv.Itoa(n) + " ACK"}}}
	return p.send(ack, p.cfg.Proxy)
}
