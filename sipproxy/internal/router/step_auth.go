package router

import (
	"context"
	"strings"

	"github.com/emiago/sipgo/sip"

	"sipmedia/sipproxy/internal/auth"
)

// proxyAuth is the residential script's authentication of initial
// requests that claim a local user (From domain ours; REGISTER and ACK
// aside): proxy_authorize() or 407 with proxy_challenge(), 403 "Forbidden
// auth ID" when the credentials are another user's ($au != $fU), and
// consume_credentials() before the request goes on. A request from
// elsewhere went through relayPolicy (its R-URI must be ours).
type proxyAuth struct{ r *Router }

func (proxyAuth) Name() string { return "proxy_authorize" }

func (s proxyAuth) Serve(_ context.Context, c *Ctx) Result {
	req := c.Req
	if req.Method == sip.REGISTER || req.IsAck() || !s.r.me.URI(&req.From().Address) {
		return Next
	}
	from := req.From().Address
	if !s.r.authorize(c, "Proxy-Authorization", from.Host, from.User) {
		return Stop
	}
	// consume_credentials(): the credentials are for us, not the callee.
	req.RemoveHeader("Proxy-Authorization")
	return Next
}

// wwwAuth is the REGISTER block's www_authorize() or 401 with
// www_challenge(), and 403 "Forbidden auth ID" when the credentials are
// not the registering user's ($au != $tU).
type wwwAuth struct{ r *Router }

func (wwwAuth) Name() string { return "www_authorize" }

func (s wwwAuth) Serve(_ context.Context, c *Ctx) Result {
	if c.Req.Method != sip.REGISTER {
		return Next
	}
	to := c.Req.To().Address
	if !s.r.authorize(c, "Authorization", to.Host, to.User) {
		return Stop
	}
	return Next
}

// authorize checks the credentials in header (Authorization or
// Proxy-Authorization) for realm and that they are user's; if they are
// not, it replies (401/407 with a challenge, or 403) and returns false.
func (r *Router) authorize(c *Ctx, header, realm, user string) bool {
	var values []string
	for _, h := range c.Req.GetHeaders(header) {
		values = append(values, h.Value())
	}
	res := r.cfg.Auth.Check(values, string(c.Req.Method), realm)
	switch res.Outcome {
	case auth.Passed:
		if res.User != user {
			r.Metrics.AuthFailures.Add(1)
			r.log.Warn("authentication: credentials of another user", "method", c.Req.Method, "user", user,
				"auth-user", res.User, "source", c.Source, "call-id", c.callID())
			c.Reply(403, "Forbidden auth ID")
			return false
		}
		return true
	case auth.Failed:
		// Source and user, for fail2ban and the like.
		r.Metrics.AuthFailures.Add(1)
		r.log.Warn("authentication failed", "method", c.Req.Method, "auth-user", res.User, "reason", res.Reason,
			"source", c.Source, "call-id", c.callID())
	}
	r.Metrics.AuthChallenges.Add(1)
	code, reason, chal := 401, "Unauthorized", "WWW-Authenticate"
	if strings.HasPrefix(header, "Proxy") {
		code, reason, chal = 407, "Proxy Authentication Required", "Proxy-Authenticate"
	}
	resp := sip.NewResponseFromRequest(c.Orig, code, reason, nil)
	resp.AppendHeader(sip.NewHeader(chal, r.cfg.Auth.Challenge(realm, res.Outcome == auth.Stale)))
	c.ReplyWith(resp)
	return false
}
