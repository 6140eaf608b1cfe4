package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const testSDP = "v=0\r\no=ws 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"

// bigSDP is WebRTC-sized: well above the 1300 bytes RFC 3261 18.1.1
// allows over UDP without congestion control, as browsers send.
var bigSDP = testSDP + strings.Repeat("a=candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host generation 0 network-id 1\r\n", 40)

// wsUA is a sipgo user agent acting as a browser-like client over WS/WSS
// (or a TLS phone): it registers and can place or answer one call.
type wsUA struct {
	ua     *sipgo.UserAgent
	cli    *sipgo.Client
	srv    *sipgo.Server
	user   string
	tp     string // WS, WSS or TLS
	proxy  string // ip:port of the proxy listener for tp
	acked  chan struct{}
	byed   chan struct{}
	invite chan *sip.Request
}

func newWSUA(t *testing.T, user, tp, proxyAddr string) *wsUA {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{InsecureSkipVerify: true}), sipgo.WithUserAgent(user))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	w := &wsUA{ua: ua, cli: cli, srv: srv, user: user, tp: tp, proxy: proxyAddr,
		acked: make(chan struct{}, 1), byed: make(chan struct{}, 1), invite: make(chan *sip.Request, 1)}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		w.invite <- req
		tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(testSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: w.contact()})
		tx.Respond(res)
		select {
		case <-tx.Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case w.acked <- struct{}{}:
		default:
		}
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case w.byed <- struct{}{}:
		default:
		}
	})
	t.Cleanup(func() { ua.Close() })
	return w
}

// contact is what a browser puts in Contact: an unroutable .invalid host.
func (w *wsUA) contact() sip.Uri {
	u := sip.Uri{Scheme: "sip", User: w.user, Host: "df7jal23ls0d.invalid", UriParams: sip.NewParams()}
	u.UriParams.Add("transport", map[string]string{"WS": "ws", "WSS": "ws", "TLS": "tls"}[w.tp])
	return u
}

func (w *wsUA) register(t *testing.T, ctx context.Context) {
	t.Helper()
	host, port := splitHostPort(t, w.proxy)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	aor := sip.Uri{Scheme: "sip", User: w.user, Host: host, Port: port}
	req.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ContactHeader{Address: w.contact()})
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	req.SetTransport(w.tp)
	req.SetDestination(w.proxy)
	res, err := w.cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER over %s: %v", w.tp, err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER over %s: %d %s", w.tp, res.StatusCode, res.Reason)
	}
}

// call places a call to user@proxy through the proxy and ends it with BYE,
// ACK and BYE following the Record-Route set.
func (w *wsUA) call(t *testing.T, ctx context.Context, callee, callID string) {
	t.Helper()
	host, port := splitHostPort(t, w.proxy)
	dua := sipgo.DialogUA{Client: w.cli, ContactHDR: sip.ContactHeader{Address: w.contact()}}
	route := sip.Uri{Scheme: "sip", Host: host, Port: port, UriParams: sip.NewParams()}
	route.UriParams.Add("transport", map[string]string{"WS": "ws", "WSS": "wss", "TLS": "tls"}[w.tp])
	route.UriParams.Add("lr", "")
	cid := sip.CallIDHeader(callID)
	sess, err := dua.Invite(ctx, sip.Uri{Scheme: "sip", User: callee, Host: host, Port: port}, []byte(bigSDP),
		&sip.RouteHeader{Address: route}, &cid, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatalf("INVITE over %s: %v", w.tp, err)
	}
	defer sess.Close()
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("INVITE over %s: %v", w.tp, err)
	}
	if rr := sess.InviteResponse.GetHeaders("Record-Route"); len(rr) != 2 {
		t.Errorf("Record-Route on the 200: %d entries, want 2 (double RR %s/UDP)", len(rr), w.tp)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatalf("ACK: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := sess.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
}

func splitHostPort(t *testing.T, a string) (string, int) {
	t.Helper()
	h, p, err := sip.ParseAddr(a)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// TestWSSCallerToUDP: a WSS client registers, then calls a UDP sipp UAS.
func TestWSSCallerToUDP(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tp := range []string{"WSS", "WS", "TLS"} {
		t.Run(tp, func(t *testing.T) {
			port := map[string]int{"WSS": p.WSS, "WS": p.WS, "TLS": p.TLS}[tp]
			w := newWSUA(t, "caller"+tp, tp, "127.0.0.1:"+strconv.Itoa(port))
			w.register(t, ctx)
			rs := p.waitRegistered(t, "caller"+tp, 1)
			if tp != "TLS" && !rs[0].DstWS {
				t.Errorf("binding over %s without DST_WS: %+v", tp, rs[0])
			}
			cid := fmt.Sprintf("wscall-%s-%d", tp, time.Now().UnixNano())
			callee := startSipp(t, "uas_register_answer.xml", "udp", p.addr(), map[string]string{"user": "udp" + tp, "cid": cid})
			p.waitRegistered(t, "udp"+tp, 1)
			w.call(t, ctx, "udp"+tp, cid)
			if err := callee.Wait(); err != nil {
				t.Fatalf("UDP callee: %v", err)
			}
		})
	}
}

// TestUDPCallerToWS: a UDP sipp caller reaches a WS-registered callee
// (Contact host .invalid) over the flow it registered on; and a TLS phone
// the same way, over the connection it registered on (a phone behind NAT
// cannot take a new connection).
func TestUDPCallerToWS(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tp := range []string{"WS", "WSS", "TLS"} {
		t.Run(tp, func(t *testing.T) {
			port := map[string]int{"WSS": p.WSS, "WS": p.WS, "TLS": p.TLS}[tp]
			user := "browser" + tp
			w := newWSUA(t, user, tp, "127.0.0.1:"+strconv.Itoa(port))
			w.register(t, ctx)
			rs := p.waitRegistered(t, user, 1)
			if rs[0].DstWS != (tp != "TLS") {
				t.Errorf("DST_WS wrong for %s: %+v", tp, rs[0])
			}
			runSipp(t, "uac_call.xml", "udp", p.addr(), map[string]string{"user": user})
			select {
			case req := <-w.invite:
				if req.Transport() != tp {
					t.Errorf("INVITE arrived over %s", req.Transport())
				}
			default:
				t.Fatal("callee saw no INVITE")
			}
			for name, ch := range map[string]chan struct{}{"ACK": w.acked, "BYE": w.byed} {
				select {
				case <-ch:
				case <-time.After(5 * time.Second):
					t.Fatalf("callee saw no %s", name)
				}
			}
		})
	}
}

// TestWSFlowClosed: once the WS connection of a registration is gone, a
// call to it fails with 480 instead of dialling the .invalid host.
func TestWSFlowClosed(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := newWSUA(t, "gone", "WS", "127.0.0.1:"+strconv.Itoa(p.WS))
	w.register(t, ctx)
	p.waitRegistered(t, "gone", 1)
	w.ua.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := p.counters()
		if c["ws_connections"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ws connection not closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	me := p.addr()
	runSipp(t, "uac_expect_480.xml", "udp", me, map[string]string{"ruri": "sip:gone@" + me, "from": "sip:caller@" + me, "mf": "70", "route": "<sip:" + me + ";lr>"})
}
