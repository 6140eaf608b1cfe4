package phone

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes a phone.
type Config struct {
	User  string         // user part of the AOR (alice)
	Proxy netip.AddrPort // outbound proxy, on Transport
	// Transport is "udp" (default), "tcp" or "tls": over TCP and TLS the
	// phone keeps one connection to the proxy, which reaches it over
	// that connection (its Contact says transport=tcp or tls); the
	// proxy's TLS certificate is not checked.
	Transport string
	// Domain is the AOR's host part; default the proxy's IP.
	Domain string
	// IP is the local address for SIP and RTP; default 127.0.0.1.
	IP string
	// Late: INVITEs carry no SDP (the offer comes in the 2xx, the answer
	// goes in the ACK).
	Late bool
	// EarlyMedia: Answer sends 183 Session Progress with its answer (as
	// phones do for ringback) instead of 180, then the 200 with the same
	// SDP.
	EarlyMedia bool
	// Reliable: Answer sends a reliable 183 (RFC 3262: Require: 100rel,
	// RSeq) with its SDP, the answer or, when the INVITE had none, the
	// offer, and sends the 200 (without SDP) once the PRACK came, which
	// answers that offer. A caller PRACKs reliable provisionals whatever
	// this says.
	Reliable bool
	// RepeatSDP: with Reliable, the 200 repeats the 183's SDP, as RFC
	// 6337 (3.1.1) lets a UAS do once offer and answer are complete.
	RepeatSDP bool
	// Password: a 401 or 407 to a REGISTER or INVITE is answered once
	// with digest credentials of User (auth.go).
	Password string
}

// Phone is a user agent with one RTP endpoint per call.
type Phone struct {
	cfg    Config
	conn   *net.UDPConn // UDP transport
	stream net.Conn     // TCP or TLS transport
	wmu    sync.Mutex   // serialises writes on stream

	mu       sync.Mutex
	waiters  map[string]chan *Msg // by Call-ID + CSeq
	calls    map[string]*Call
	invites  chan *Msg
	refers   chan Refer
	ringing  map[string]*Msg // INVITEs rung but not answered (Ring), by Call-ID
	readDone chan struct{}
	closed   bool
}

// Call is one dialog.
type Call struct {
	p                   *Phone
	ID                  string
	LocalTag, RemoteTag string
	LocalURI, RemoteURI string // From/To values for our requests
	Target              string // remote Contact URI; under p.mu once the call is known (a re-INVITE refreshes it)
	Route               []string
	cseq                int
	RTP                 *RTP
	// Remote is the remote media address and Received the last SDP body
	// this side received; a re-INVITE changes both from the read loop,
	// under the phone's mu (RemoteAddr reads Remote safely).
	Remote    netip.AddrPort
	Received  []byte
	ended     chan struct{}
	endOnce   sync.Once
	acked     chan struct{}
	ackOnce   sync.Once
	last200   *Msg // our 2xx to the INVITE, resent until the ACK
	inv       *Msg // the INVITE we answered
	pracked   chan struct{}
	prackOnce sync.Once
	notifies  chan string // sipfrag status lines of NOTIFYs for our REFER
}

// New opens the phone's SIP socket.
func New(cfg Config) (*Phone, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Domain == "" {
		cfg.Domain = cfg.Proxy.Addr().String()
	}
	p := &Phone{cfg: cfg, waiters: map[string]chan *Msg{}, calls: map[string]*Call{},
		invites: make(chan *Msg, 16), refers: make(chan Refer, 4), ringing: map[string]*Msg{}, readDone: make(chan struct{})}
	local := &net.TCPAddr{IP: net.ParseIP(cfg.IP)}
	var err error
	switch cfg.Transport {
	case "", "udp":
		p.cfg.Transport = "udp"
		p.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(cfg.IP)})
	case "tcp":
		p.stream, err = (&net.Dialer{LocalAddr: local}).Dial("tcp", cfg.Proxy.String())
	case "tls":
		p.stream, err = (&tls.Dialer{NetDialer: &net.Dialer{LocalAddr: local},
			Config: &tls.Config{InsecureSkipVerify: true}}).Dial("tcp", cfg.Proxy.String()) //nolint:gosec // a test phone; the proxy's certificate is self-signed
	default:
		err = fmt.Errorf("unknown transport %q", cfg.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	if p.stream != nil {
		go p.streamLoop()
	} else {
		go p.readLoop()
	}
	return p, nil
}

// Addr is the SIP address (over TCP or TLS, the connection's local end).
func (p *Phone) Addr() netip.AddrPort {
	if p.stream != nil {
		return p.stream.LocalAddr().(*net.TCPAddr).AddrPort()
	}
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// AOR is sip:user@domain.
func (p *Phone) AOR() string { return "sip:" + p.cfg.User + "@" + p.cfg.Domain }

func (p *Phone) contact() string {
	if p.stream != nil {
		return "<sip:" + p.cfg.User + "@" + p.Addr().String() + ";transport=" + p.cfg.Transport + ">"
	}
	return "<sip:" + p.cfg.User + "@" + p.Addr().String() + ">"
}

// Close ends every call's RTP and the SIP socket.
func (p *Phone) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	// A copy: the read loop still ends calls (a BYE) until the socket
	// closes, deleting from the map.
	calls := slices.Collect(maps.Values(p.calls))
	p.mu.Unlock()
	for _, c := range calls {
		if c.RTP != nil {
			c.RTP.Close()
		}
	}
	if p.stream != nil {
		_ = p.stream.Close()
	} else {
		_ = p.conn.Close()
	}
	<-p.readDone
}

// send sends m to to over UDP; over TCP or TLS everything goes on the
// connection to the proxy.
func (p *Phone) send(m *Msg, to netip.AddrPort) error {
	if p.stream != nil {
		p.wmu.Lock()
		defer p.wmu.Unlock()
		_, err := p.stream.Write(m.Bytes())
		return err
	}
	_, err := p.conn.WriteToUDPAddrPort(m.Bytes(), to)
	return err
}

func (p *Phone) readLoop() {
	defer close(p.readDone)
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, err := Parse(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		m.From = from
		p.dispatch(m)
	}
}

// streamLoop reads messages off the TCP or TLS connection, framed by
// Content-Length (RFC 3261 18.3); CRLF keepalives between them are
// skipped.
func (p *Phone) streamLoop() {
	defer close(p.readDone)
	from := p.stream.RemoteAddr().(*net.TCPAddr).AddrPort()
	br := bufio.NewReader(p.stream)
	for {
		b, err := readStreamMsg(br)
		if err != nil {
			return
		}
		m, err := Parse(b)
		if err != nil {
			continue
		}
		m.From = from
		p.dispatch(m)
	}
}

// dispatch hands a message read from the proxy to its waiter or handler.
func (p *Phone) dispatch(m *Msg) {
	if m.Method == "" {
		p.response(m)
	} else {
		p.request(m)
	}
}

func txKey(m *Msg) string {
	n, meth := m.CSeq()
	if meth == "ACK" {
		meth = "INVITE"
	}
	return m.Get("Call-ID") + "/" + strconv.Itoa(n) + "/" + meth
}

func (p *Phone) response(m *Msg) {
	p.mu.Lock()
	ch := p.waiters[txKey(m)]
	c := p.calls[m.Get("Call-ID")]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
		return
	}
	// A 2xx retransmission after our ACK: ACK again.
	if _, meth := m.CSeq(); meth == "INVITE" && m.Code/100 == 2 && c != nil {
		_ = c.sendAck(m, nil)
	}
}

func (p *Phone) request(m *Msg) {
	id := m.Get("Call-ID")
	p.mu.Lock()
	c := p.calls[id]
	p.mu.Unlock()
	switch m.Method {
	case "INVITE":
		if c != nil && c.inv != nil && txKey(c.inv) == txKey(m) {
			if c.last200 != nil {
				_ = p.send(c.last200, viaTarget(m.Get("Via"), m.From))
			}
			return
		}
		if c != nil {
			c.answerOffer(m)
			return
		}
		select {
		case p.invites <- m:
		default:
		}
	case "UPDATE":
		if c != nil {
			c.answerOffer(m)
			return
		}
		_ = p.send(p.reply(m, 481, "Call/Transaction Does Not Exist", ""), viaTarget(m.Get("Via"), m.From))
	case "PRACK":
		// Acknowledges our reliable 183; its SDP answers the 183's offer.
		if c != nil && len(m.Body) > 0 {
			if ap, err := MediaAddr(m.Body); err == nil {
				c.setRemote(ap, m.Body)
			}
		}
		_ = p.send(p.reply(m, 200, "OK", ""), viaTarget(m.Get("Via"), m.From))
		if c != nil && c.pracked != nil {
			c.prackOnce.Do(func() { close(c.pracked) })
		}
	case "ACK":
		if c != nil {
			// SDP in an ACK answers the offer in our 2xx (late offer).
			if len(m.Body) > 0 {
				if ap, err := MediaAddr(m.Body); err == nil {
					c.setRemote(ap, m.Body)
				}
			}
			c.ackOnce.Do(func() { close(c.acked) })
		}
	case "BYE":
		_ = p.send(p.reply(m, 200, "OK", ""), viaTarget(m.Get("Via"), m.From))
		if c != nil {
			c.end()
		}
	case "REFER":
		// RFC 3515: accepted at once; the test places the call (Referred)
		// and reports on it (Notify).
		if c == nil {
			_ = p.send(p.reply(m, 481, "Call/Transaction Does Not Exist", ""), viaTarget(m.Get("Via"), m.From))
			return
		}
		_ = p.send(p.reply(m, 202, "Accepted", ""), viaTarget(m.Get("Via"), m.From))
		target := uriOf(m.Get("Refer-To"))
		if i := strings.IndexByte(target, '?'); i >= 0 {
			target = target[:i] // header part (Replaces): not followed
		}
		select {
		case p.refers <- Refer{Call: c, Target: target}:
		default:
		}
	case "NOTIFY":
		_ = p.send(p.reply(m, 200, "OK", ""), viaTarget(m.Get("Via"), m.From))
		if ev, _, _ := strings.Cut(m.Get("Event"), ";"); c != nil && strings.EqualFold(strings.TrimSpace(ev), "refer") {
			frag, _, _ := strings.Cut(string(m.Body), "\r\n")
			select {
			case c.notifies <- strings.TrimSpace(frag):
			default:
			}
		}
	case "CANCEL":
		_ = p.send(p.reply(m, 200, "OK", ""), viaTarget(m.Get("Via"), m.From))
		p.mu.Lock()
		inv := p.ringing[id]
		delete(p.ringing, id)
		p.mu.Unlock()
		if inv != nil {
			_ = p.send(p.reply(inv, 487, "Request Terminated", newID()), viaTarget(inv.Get("Via"), inv.From))
		}
	default:
		_ = p.send(p.reply(m, 200, "OK", ""), viaTarget(m.Get("Via"), m.From))
	}
}

// answerOffer answers a re-INVITE or UPDATE: both refresh the target
// (RFC 3261 12.2.2, RFC 3311 5.2); follow the new offer, answer with our
// address. A re-INVITE without SDP gets our offer, answered in its ACK.
func (c *Call) answerOffer(m *Msg) {
	p := c.p
	if ct := m.Get("Contact"); ct != "" {
		p.mu.Lock()
		c.Target = uriOf(ct)
		p.mu.Unlock()
	}
	res := p.reply(m, 200, "OK", c.LocalTag)
	res.Hdrs = append(res.Hdrs, Hdr{"Contact", p.contact()})
	if len(m.Body) > 0 {
		if ap, err := MediaAddr(m.Body); err == nil {
			c.setRemote(ap, m.Body)
		}
		res.Hdrs = append(res.Hdrs, Hdr{"Content-Type", "application/sdp"})
		res.Body = sdpFor(c.RTP.Addr(), m.Body)
	} else if m.Method == "INVITE" {
		res.Hdrs = append(res.Hdrs, Hdr{"Content-Type", "application/sdp"})
		res.Body = offerSDP(c.RTP.Addr())
	}
	_ = p.send(res, viaTarget(m.Get("Via"), m.From))
}

// reply builds a response to req (To tag added when given and missing).
func (p *Phone) reply(req *Msg, code int, reason, toTag string) *Msg {
	res := &Msg{Code: code, Reason: reason}
	for _, h := range req.Hdrs {
		switch strings.ToLower(h.Name) {
		case "via", "from", "call-id", "cseq", "record-route":
			res.Hdrs = append(res.Hdrs, h)
		case "to":
			v := h.Value
			if toTag != "" && Tag(v) == "" {
				v += ";tag=" + toTag
			}
			res.Hdrs = append(res.Hdrs, Hdr{"To", v})
		}
	}
	return res
}

func newID() string { return strconv.FormatUint(rand.Uint64(), 36) }

func (p *Phone) via() Hdr {
	return Hdr{"Via", "SIP/2.0/" + strings.ToUpper(p.cfg.Transport) + " " + p.Addr().String() + ";branch=z9hG4bK" + newID() + ";rport"}
}

// transact sends req to dst, retransmitting over UDP (RFC 3261 timer A/E
// from 500 ms) until a response arrives, and returns the final response;
// provisional ones go to prov.
func (p *Phone) transact(ctx context.Context, req *Msg, dst netip.AddrPort, prov func(*Msg)) (*Msg, error) {
	key := txKey(req)
	ch := make(chan *Msg, 16)
	p.mu.Lock()
	p.waiters[key] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, key)
		p.mu.Unlock()
	}()
	if err := p.send(req, dst); err != nil {
		return nil, err
	}
	interval, gotProv := 500*time.Millisecond, false
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case m := <-ch:
			if m.Code >= 200 {
				return m, nil
			}
			gotProv = true
			if prov != nil {
				prov(m)
			}
		case <-t.C:
			if !gotProv && p.stream == nil { // TCP and TLS do not lose it
				_ = p.send(req, dst)
				if interval < 4*time.Second {
					interval *= 2
				}
			}
			t.Reset(interval)
		case <-ctx.Done():
			return nil, fmt.Errorf("phone %s: %s: %w", p.cfg.User, req.Method, ctx.Err())
		}
	}
}

// Register binds the AOR to this phone at the proxy.
func (p *Phone) Register(ctx context.Context) error {
	id := newID()
	req := &Msg{Method: "REGISTER", URI: "sip:" + p.cfg.Domain, Hdrs: []Hdr{p.via(),
		{"Max-Forwards", "70"}, {"From", "<" + p.AOR() + ">;tag=" + newID()}, {"To", "<" + p.AOR() + ">"},
		{"Call-ID", id}, {"CSeq", "1 REGISTER"}, {"Contact", p.contact()}, {"Expires", "300"}}}
	res, err := p.transact(ctx, req, p.cfg.Proxy, nil)
	if err != nil {
		return err
	}
	if p.mayAuth(res) {
		if err := p.authorize(req, res); err != nil {
			return err
		}
		if res, err = p.transact(ctx, req, p.cfg.Proxy, nil); err != nil {
			return err
		}
	}
	if res.Code != 200 {
		return fmt.Errorf("phone %s: REGISTER: %d %s", p.cfg.User, res.Code, res.Reason)
	}
	return nil
}

// StatusError is a final non-2xx reply to an INVITE (or UPDATE).
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
}

// Call invites target (a user name or sip: URI) through the proxy and, on
// 2xx, ACKs and starts sending RTP to the answered address.
func (p *Phone) Call(ctx context.Context, target string) (*Call, error) {
	if !strings.HasPrefix(target, "sip:") {
		target = "sip:" + target + "@" + p.cfg.Domain
	}
	rtp, err := newRTP(p.cfg.IP)
	if err != nil {
		return nil, err
	}
	c := &Call{p: p, ID: newID() + "@e2e", LocalTag: newID(), LocalURI: "<" + p.AOR() + ">",
		RemoteURI: "<" + target + ">", cseq: 1, RTP: rtp, ended: make(chan struct{}), acked: make(chan struct{}),
		notifies: make(chan string, 8)}
	c.LocalURI += ";tag=" + c.LocalTag
	req := &Msg{Method: "INVITE", URI: target, Hdrs: []Hdr{p.via(), {"Max-Forwards", "70"},
		{"From", c.LocalURI}, {"To", c.RemoteURI}, {"Call-ID", c.ID}, {"CSeq", "1 INVITE"},
		{"Contact", p.contact()}}}
	if !p.cfg.Late {
		req.Hdrs = append(req.Hdrs, Hdr{"Content-Type", "application/sdp"})
		req.Body = offerSDP(rtp.Addr())
	}
	p.mu.Lock()
	p.calls[c.ID] = c
	p.mu.Unlock()
	var prackErr error
	rseq, answered := 0, false
	prov := func(m *Msg) {
		// RFC 3262 4: PRACK each new reliable provisional (retransmissions
		// carry an RSeq already seen); its SDP answers an offer in it.
		n, _ := strconv.Atoi(m.Get("RSeq"))
		if !strings.Contains(m.Get("Require"), "100rel") || n <= rseq || prackErr != nil {
			return
		}
		rseq = n
		c.dialogFrom(m)
		var body []byte
		if len(m.Body) > 0 {
			if prackErr = c.learnRemote(m.Body); prackErr != nil {
				return
			}
			if p.cfg.Late && !answered {
				body, answered = sdpFor(rtp.Addr(), m.Body), true
			}
		}
		c.cseq++
		pr := c.inDialog("PRACK", c.cseq)
		invSeq, _ := req.CSeq() // 2 after a challenge
		pr.Hdrs = append(pr.Hdrs, Hdr{"RAck", strconv.Itoa(n) + " " + strconv.Itoa(invSeq) + " INVITE"})
		if body != nil {
			pr.Hdrs = append(pr.Hdrs, Hdr{"Content-Type", "application/sdp"})
			pr.Body = body
		}
		hop, err := c.nextHop()
		if err == nil {
			var res *Msg
			if res, err = p.transact(ctx, pr, hop, nil); err == nil && res.Code != 200 {
				err = fmt.Errorf("PRACK answered %d %s", res.Code, res.Reason)
			}
		}
		prackErr = err
	}
	res, err := p.transact(ctx, req, p.cfg.Proxy, prov)
	if err == nil && prackErr == nil && p.mayAuth(res) {
		// ACK the challenge in its own transaction, then ask again.
		if err = p.ackFailure(req, res); err == nil {
			if err = p.authorize(req, res); err == nil {
				c.cseq++
				res, err = p.transact(ctx, req, p.cfg.Proxy, prov)
			}
		}
	}
	if err == nil {
		err = prackErr
	}
	if err != nil {
		c.drop()
		return nil, err
	}
	if res.Code >= 300 {
		_ = p.ackFailure(req, res)
		c.drop()
		return nil, &StatusError{"INVITE", res.Code, res.Reason}
	}
	c.dialogFrom(res)
	var ackBody []byte
	if len(res.Body) > 0 && !answered {
		if err := c.learnRemote(res.Body); err != nil {
			return nil, err
		}
		if p.cfg.Late {
			ackBody = sdpFor(rtp.Addr(), res.Body)
		}
	}
	if err := c.sendAck(res, ackBody); err != nil {
		return nil, err
	}
	if ra := c.RemoteAddr(); ra.IsValid() {
		rtp.Send(ra)
	}
	return c, nil
}

// learnRemote takes the remote media address from sdp, a reply to our
// INVITE; RTP starts after the ACK. The call is known to the read loop by
// now, which follows re-offers under p.mu.
func (c *Call) learnRemote(sdp []byte) error {
	ap, err := MediaAddr(sdp)
	if err != nil {
		return err
	}
	c.p.mu.Lock()
	c.Remote, c.Received = ap, sdp
	c.p.mu.Unlock()
	return nil
}

// dialogFrom takes the dialog's remote side from a reply to our INVITE:
// To (with tag), Contact as the target, the Record-Route set reversed.
func (c *Call) dialogFrom(res *Msg) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.RemoteTag = Tag(res.Get("To"))
	c.RemoteURI = res.Get("To")
	c.Target = uriOf(res.Get("Contact"))
	rr := res.All("Record-Route")
	c.Route = c.Route[:0]
	for i := len(rr) - 1; i >= 0; i-- {
		c.Route = append(c.Route, rr[i])
	}
}

func (c *Call) drop() {
	c.p.mu.Lock()
	delete(c.p.calls, c.ID)
	c.p.mu.Unlock()
	c.RTP.Close()
}

// nextHop is where in-dialog requests go: the first Route, else the target.
func (c *Call) nextHop() (netip.AddrPort, error) {
	if len(c.Route) > 0 {
		return hostPort(uriOf(c.Route[0]))
	}
	return hostPort(c.target())
}

// target is the remote target, which a re-INVITE from the other side
// may refresh while the call's owner sends.
func (c *Call) target() string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.Target
}

func (c *Call) inDialog(method string, cseq int) *Msg {
	m := &Msg{Method: method, URI: c.target(), Hdrs: []Hdr{c.p.via(), {"Max-Forwards", "70"}}}
	for _, r := range c.Route {
		m.Hdrs = append(m.Hdrs, Hdr{"Route", r})
	}
	m.Hdrs = append(m.Hdrs, Hdr{"From", c.LocalURI}, Hdr{"To", c.RemoteURI}, Hdr{"Call-ID", c.ID},
		Hdr{"CSeq", strconv.Itoa(cseq) + " " + method})
	return m
}

func (c *Call) sendAck(res *Msg, body []byte) error {
	n, _ := res.CSeq()
	ack := c.inDialog("ACK", n)
	if body != nil {
		ack.Hdrs = append(ack.Hdrs, Hdr{"Content-Type", "application/sdp"})
		ack.Body = body
	}
	hop, err := c.nextHop()
	if err != nil {
		return err
	}
	return c.p.send(ack, hop)
}

// Reinvite sends an in-dialog INVITE with a new offer, follows the
// answer's media address and ACKs.
func (c *Call) Reinvite(ctx context.Context) error { return c.renegotiate(ctx, "INVITE", false) }

// ReinviteLate sends an in-dialog INVITE without SDP (as PBXs do before
// a transfer): the 2xx carries the other side's offer, which it follows
// and answers in the ACK.
func (c *Call) ReinviteLate(ctx context.Context) error { return c.renegotiate(ctx, "INVITE", true) }

// Update sends an UPDATE with a new offer (RFC 3311) and follows the
// answer's media address.
func (c *Call) Update(ctx context.Context) error { return c.renegotiate(ctx, "UPDATE", false) }

func (c *Call) renegotiate(ctx context.Context, method string, late bool) error {
	c.cseq++
	req := c.inDialog(method, c.cseq)
	req.Hdrs = append(req.Hdrs, Hdr{"Contact", c.p.contact()})
	if !late {
		req.Hdrs = append(req.Hdrs, Hdr{"Content-Type", "application/sdp"})
		req.Body = offerSDP(c.RTP.Addr())
	}
	res, err := c.transact2xx(ctx, req)
	if err != nil {
		return err
	}
	ap, err := MediaAddr(res.Body)
	if err != nil {
		return err
	}
	c.setRemote(ap, res.Body)
	if method != "INVITE" {
		return nil
	}
	var answer []byte
	if late {
		answer = sdpFor(c.RTP.Addr(), res.Body)
	}
	return c.sendAck(res, answer)
}

// setRemote follows a new remote media address.
func (c *Call) setRemote(ap netip.AddrPort, sdp []byte) {
	c.p.mu.Lock()
	c.Remote, c.Received = ap, sdp
	c.p.mu.Unlock()
	c.RTP.Send(ap)
}

// RemoteAddr is the current remote media address.
func (c *Call) RemoteAddr() netip.AddrPort {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.Remote
}

// Hangup sends BYE and waits for its final reply.
func (c *Call) Hangup(ctx context.Context) error {
	c.cseq++
	bye := c.inDialog("BYE", c.cseq)
	hop, err := c.nextHop()
	if err != nil {
		return err
	}
	res, err := c.p.transact(ctx, bye, hop, nil)
	c.end()
	if err != nil {
		return err
	}
	if res.Code != 200 {
		return fmt.Errorf("BYE answered %d %s", res.Code, res.Reason)
	}
	return nil
}

// Refer is a REFER this phone accepted (RFC 3515): the dialog it came
// in and the Refer-To URI, without a header part.
type Refer struct {
	Call   *Call
	Target string
}

// Referred waits for a REFER in one of this phone's calls.
func (p *Phone) Referred(ctx context.Context) (Refer, error) {
	return await(ctx, p, p.refers, "REFER")
}

// await takes the next value from ch, or fails saying what did not come
// when ctx ends first.
func await[T any](ctx context.Context, p *Phone, ch <-chan T, what string) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("phone %s: no %s: %w", p.cfg.User, what, ctx.Err())
	}
}

// Refer asks the other party to call target (a blind transfer, RFC 3515)
// and returns once the REFER is accepted; the NOTIFYs that follow come
// from Notified.
func (c *Call) Refer(ctx context.Context, target string) error {
	c.cseq++
	req := c.inDialog("REFER", c.cseq)
	req.Hdrs = append(req.Hdrs, Hdr{"Contact", c.p.contact()}, Hdr{"Refer-To", "<" + target + ">"},
		Hdr{"Referred-By", "<" + c.p.AOR() + ">"})
	_, err := c.transact2xx(ctx, req)
	return err
}

// Info sends an in-dialog INFO with a body of type contentType (SIP INFO
// DTMF: application/dtmf-relay) and wants a 2xx for it.
func (c *Call) Info(ctx context.Context, contentType string, body []byte) error {
	c.cseq++
	req := c.inDialog("INFO", c.cseq)
	req.Hdrs = append(req.Hdrs, Hdr{"Content-Type", contentType})
	req.Body = body
	_, err := c.transact2xx(ctx, req)
	return err
}

// transact2xx sends the in-dialog request req and wants a 2xx for it,
// which it returns.
func (c *Call) transact2xx(ctx context.Context, req *Msg) (*Msg, error) {
	hop, err := c.nextHop()
	if err != nil {
		return nil, err
	}
	res, err := c.p.transact(ctx, req, hop, nil)
	if err != nil {
		return nil, err
	}
	if res.Code/100 != 2 {
		return nil, &StatusError{req.Method, res.Code, res.Reason}
	}
	return res, nil
}

// Notified waits for the next NOTIFY of c's REFER and returns its
// message/sipfrag status line ("SIP/2.0 200 OK").
func (c *Call) Notified(ctx context.Context) (string, error) {
	return await(ctx, c.p, c.notifies, "NOTIFY")
}

// Notify reports on a REFER this phone accepted in c: frag is the
// referred call's status line ("SIP/2.0 200 OK"); final ends the implicit
// subscription.
func (c *Call) Notify(ctx context.Context, frag string, final bool) error {
	c.cseq++
	req := c.inDialog("NOTIFY", c.cseq)
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.Hdrs = append(req.Hdrs, Hdr{"Contact", c.p.contact()}, Hdr{"Event", "refer"},
		Hdr{"Subscription-State", state}, Hdr{"Content-Type", "message/sipfrag;version=2.0"})
	req.Body = []byte(frag + "\r\n")
	_, err := c.transact2xx(ctx, req)
	return err
}

func (c *Call) end() {
	c.endOnce.Do(func() {
		close(c.ended)
		c.RTP.Close()
		c.p.mu.Lock()
		delete(c.p.calls, c.ID)
		c.p.mu.Unlock()
	})
}

// Ended is closed when the call ended (BYE sent or received).
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Answer waits for an INVITE, rings, answers 200 with SDP (an answer to
// the INVITE's offer, or an offer when it had none), waits for the ACK and
// starts RTP toward the caller's media address.
func (p *Phone) Answer(ctx context.Context) (*Call, error) {
	var inv *Msg
	select {
	case inv = <-p.invites:
	case <-ctx.Done():
		return nil, fmt.Errorf("phone %s: no INVITE: %w", p.cfg.User, ctx.Err())
	}
	rtp, err := newRTP(p.cfg.IP)
	if err != nil {
		return nil, err
	}
	c := &Call{p: p, ID: inv.Get("Call-ID"), LocalTag: newID(), RemoteTag: Tag(inv.Get("From")),
		RemoteURI: inv.Get("From"), Target: uriOf(inv.Get("Contact")), Route: inv.All("Record-Route"),
		RTP: rtp, ended: make(chan struct{}), acked: make(chan struct{}), inv: inv, cseq: 100,
		notifies: make(chan string, 8)}
	c.LocalURI = inv.Get("To") + ";tag=" + c.LocalTag
	dst := viaTarget(inv.Get("Via"), inv.From)
	ring := p.reply(inv, 180, "Ringing", c.LocalTag)
	ok := p.reply(inv, 200, "OK", c.LocalTag)
	ok.Hdrs = append(ok.Hdrs, Hdr{"Contact", p.contact()}, Hdr{"Content-Type", "application/sdp"})
	if len(inv.Body) > 0 {
		c.Received = inv.Body
		ap, err := MediaAddr(inv.Body)
		if err != nil {
			rtp.Close()
			return nil, err
		}
		c.Remote = ap
		ok.Body = sdpFor(rtp.Addr(), inv.Body)
	} else {
		ok.Body = offerSDP(rtp.Addr())
	}
	if (p.cfg.EarlyMedia && len(inv.Body) > 0) || p.cfg.Reliable {
		ring = p.reply(inv, 183, "Session Progress", c.LocalTag)
		ring.Hdrs = append(ring.Hdrs, Hdr{"Contact", p.contact()}, Hdr{"Content-Type", "application/sdp"})
		ring.Body = ok.Body
	}
	if p.cfg.Reliable {
		// The 183 carries the SDP (an offer is answered in the PRACK), so
		// the 200 carries none.
		ring.Hdrs = append(ring.Hdrs, Hdr{"Require", "100rel"}, Hdr{"RSeq", "1"})
		if !p.cfg.RepeatSDP {
			ok.Hdrs, ok.Body = slices.DeleteFunc(ok.Hdrs, func(h Hdr) bool { return h.Name == "Content-Type" }), nil
		}
		c.pracked = make(chan struct{})
	}
	c.last200 = ok
	p.mu.Lock()
	p.calls[c.ID] = c
	p.mu.Unlock()
	_ = p.send(ring, dst)
	if c.pracked != nil {
		if err := p.untilPRACK(ctx, c, ring, dst); err != nil {
			c.drop()
			return nil, err
		}
	}
	_ = p.send(ok, dst)
	interval := 500 * time.Millisecond
	for {
		select {
		case <-c.acked:
			if ra := c.RemoteAddr(); ra.IsValid() {
				rtp.Send(ra)
			}
			return c, nil
		case <-time.After(interval):
			_ = p.send(ok, dst)
			interval *= 2
		case <-ctx.Done():
			c.drop()
			return nil, fmt.Errorf("phone %s: no ACK: %w", p.cfg.User, ctx.Err())
		}
	}
}

// untilPRACK retransmits the reliable provisional rel (RFC 3262 3: from
// T1, doubling) until its PRACK arrives.
func (p *Phone) untilPRACK(ctx context.Context, c *Call, rel *Msg, dst netip.AddrPort) error {
	interval := 500 * time.Millisecond
	for {
		select {
		case <-c.pracked:
			return nil
		case <-time.After(interval):
			_ = p.send(rel, dst)
			interval *= 2
		case <-ctx.Done():
			return fmt.Errorf("phone %s: no PRACK: %w", p.cfg.User, ctx.Err())
		}
	}
}

// Ring waits for an INVITE and answers 180 only; a CANCEL then gets 200
// and the INVITE 487. It returns the INVITE.
func (p *Phone) Ring(ctx context.Context) (*Msg, error) {
	select {
	case inv := <-p.invites:
		p.mu.Lock()
		p.ringing[inv.Get("Call-ID")] = inv
		p.mu.Unlock()
		return inv, p.send(p.reply(inv, 180, "Ringing", newID()), viaTarget(inv.Get("Via"), inv.From))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// CallAndCancel invites target, CANCELs on the first provisional reply
// above 100 and returns the INVITE's final status (487 expected), ACKed.
func (p *Phone) CallAndCancel(ctx context.Context, target string) (int, error) {
	if !strings.HasPrefix(target, "sip:") {
		target = "sip:" + target + "@" + p.cfg.Domain
	}
	rtp, err := newRTP(p.cfg.IP)
	if err != nil {
		return 0, err
	}
	defer rtp.Close()
	id, tag := newID()+"@e2e", newID()
	via := p.via()
	req := &Msg{Method: "INVITE", URI: target, Hdrs: []Hdr{via, {"Max-Forwards", "70"},
		{"From", "<" + p.AOR() + ">;tag=" + tag}, {"To", "<" + target + ">"}, {"Call-ID", id}, {"CSeq", "1 INVITE"},
		{"Contact", p.contact()}, {"Content-Type", "application/sdp"}}, Body: offerSDP(rtp.Addr())}
	cancelled := false
	res, err := p.transact(ctx, req, p.cfg.Proxy, func(m *Msg) {
		if m.Code > 100 && !cancelled {
			cancelled = true
			c := &Msg{Method: "CANCEL", URI: target, Hdrs: []Hdr{via, {"Max-Forwards", "70"},
				{"From", req.Get("From")}, {"To", req.Get("To")}, {"Call-ID", id}, {"CSeq", "1 CANCEL"}}}
			_ = p.send(c, p.cfg.Proxy)
		}
	})
	if err != nil {
		return 0, err
	}
	ack := &Msg{Method: "ACK", URI: target, Hdrs: []Hdr{via, {"Max-Forwards", "70"},
		{"From", req.Get("From")}, {"To", res.Get("To")}, {"Call-ID", id}, {"CSeq", "1 ACK"}}}
	_ = p.send(ack, p.cfg.Proxy)
	return res.Code, nil
}

// Reject waits for an INVITE and answers it with code.
func (p *Phone) Reject(ctx context.Context, code int, reason string) error {
	select {
	case inv := <-p.invites:
		res := p.reply(inv, code, reason, newID())
		return p.send(res, viaTarget(inv.Get("Via"), inv.From))
	case <-ctx.Done():
		return ctx.Err()
	}
}

func offerSDP(a netip.AddrPort) []byte {
	f := family(a)
	return []byte(fmt.Sprintf("v=0\r\no=- %d 1 IN %s %s\r\ns=phone\r\nc=IN %s %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n",
		rand.Uint32()>>1, f, a.Addr(), f, a.Addr(), a.Port()))
}

// family is the SDP address type of a: IP4 or IP6.
func family(a netip.AddrPort) string {
	if a.Addr().Unmap().Is6() {
		return "IP6"
	}
	return "IP4"
}

// sdpFor answers an offer with PCMU (or PCMA) at our address, and
// telephone-event/8000 (RFC 4733 DTMF) under the offer's number when it
// has one.
func sdpFor(a netip.AddrPort, offer []byte) []byte {
	pt := "0"
	for _, l := range strings.Split(string(offer), "\n") {
		if f := strings.Fields(l); len(f) > 3 && strings.HasPrefix(l, "m=audio") {
			has := map[string]bool{}
			for _, x := range f[3:] {
				has[x] = true
			}
			if !has["0"] && has["8"] {
				pt = "8"
			}
		}
	}
	name := map[string]string{"0": "PCMU", "8": "PCMA"}[pt]
	fmts, attrs := pt, "a=rtpmap:"+pt+" "+name+"/8000\r\n"
	if ev, ok := EventPT(offer); ok {
		fmts += " " + strconv.Itoa(int(ev))
		attrs += fmt.Sprintf("a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", ev, ev)
	}
	f := family(a)
	return []byte(fmt.Sprintf("v=0\r\no=- %d 1 IN %s %s\r\ns=phone\r\nc=IN %s %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %s\r\n%sa=sendrecv\r\n",
		rand.Uint32()>>1, f, a.Addr(), f, a.Addr(), a.Port(), fmts, attrs))
}

// EventPT is the payload type of telephone-event/8000 in sdp.
func EventPT(sdp []byte) (uint8, bool) {
	for _, l := range strings.Split(string(sdp), "\n") {
		num, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(l), "a=rtpmap:"), " ")
		if !ok || !strings.HasPrefix(strings.TrimSpace(l), "a=rtpmap:") || !strings.EqualFold(rest, "telephone-event/8000") {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && n < 128 {
			return uint8(n), true
		}
	}
	return 0, false
}
