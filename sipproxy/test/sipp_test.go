package test

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

var transports = []string{"udp", "tcp"}

// TestSippRegister: REGISTER, refresh, out-of-order CSeq, second contact
// with q, removal of one and of all; then expiry of a short binding.
func TestSippRegister(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			user := "reg" + tp
			runSipp(t, "register_lifecycle.xml", tp, p.addr(), map[string]string{"user": user})
			if rs := p.registrations(t, user); len(rs) != 0 {
				t.Fatalf("bindings left after '*': %+v", rs)
			}
			short := "short" + tp
			runSipp(t, "register_short.xml", tp, p.addr(), map[string]string{"user": short, "exp": "2"})
			rs := p.waitRegistered(t, short, 1)
			if rs[0].Expires < 1 || rs[0].Expires > 2 {
				t.Errorf("expires %d, want 1..2", rs[0].Expires)
			}
			p.waitRegistered(t, short, 0) // expired
		})
	}
}

// call runs a registered callee scenario and a caller scenario against it.
func call(t *testing.T, p *proxy, tp, uas, uac, user string) {
	t.Helper()
	cid := fmt.Sprintf("%s-%d@test", user, time.Now().UnixNano())
	keys := map[string]string{"user": user, "cid": cid}
	callee := startSipp(t, uas, tp, p.addr(), keys)
	p.waitRegistered(t, user, 1)
	caller := startSipp(t, uac, tp, p.addr(), keys)
	if err := caller.Wait(); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := callee.Wait(); err != nil {
		t.Fatalf("callee: %v", err)
	}
}

// TestSippCall: a call whose ACK and BYE follow the Record-Route set.
func TestSippCall(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			uac := "uac_call.xml"
			if tp == "udp" {
				uac = "uac_call_ringing.xml" // the 180 must come, before the 200
			}
			call(t, p, tp, "uas_register_answer.xml", uac, "callee"+tp)
		})
	}
	c, _ := p.counters()
	if c["relayed_stateless"] < 2 {
		t.Errorf("ACKs relayed statelessly: %d, want 2", c["relayed_stateless"])
	}
}

// TestSippCallIPv6: calls over IPv6, and from an IPv4 phone to an IPv6
// one. Crossing families, the proxy record-routes twice (r2=on, as
// Kamailio's and OpenSIPS's double record-routing): the callee must see
// the IPv6 address it can reach on top, the caller the IPv4 one.
func TestSippCallIPv6(t *testing.T) {
	needSipp(t)
	// The IPv6 listeners take the IPv4 ones' port number.
	p := startProxyWith(t, func(p *proxy) []string {
		return []string{"--listen=udp:[::1]:" + strconv.Itoa(p.SIP), "--listen=tcp:[::1]:" + strconv.Itoa(p.SIP)}
	})
	v6 := "[::1]:" + strconv.Itoa(p.SIP)
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			user := "v6callee" + tp
			keys := map[string]string{"user": user, "cid": fmt.Sprintf("%s-%d@test", user, time.Now().UnixNano())}
			callee := startSipp(t, "uas_register_answer.xml", tp, v6, keys)
			p.waitRegistered(t, user, 1)
			caller := startSipp(t, "uac_call.xml", tp, v6, keys)
			if err := caller.Wait(); err != nil {
				t.Fatalf("caller: %v", err)
			}
			if err := callee.Wait(); err != nil {
				t.Fatalf("callee: %v", err)
			}
			if m := callee.messages(); !strings.Contains(m, "Record-Route: <sip:[::1]:") || strings.Contains(m, "r2=on") {
				t.Errorf("IPv6 only: want one IPv6 Record-Route, callee saw:\n%s", tail([]byte(m), 3000))
			}
		})
	}
	t.Run("ipv4-to-ipv6", func(t *testing.T) {
		user := "v6callee-from-v4"
		keys := map[string]string{"user": user, "cid": fmt.Sprintf("%s-%d@test", user, time.Now().UnixNano())}
		callee := startSipp(t, "uas_register_answer.xml", "udp", v6, keys)
		p.waitRegistered(t, user, 1)
		caller := startSipp(t, "uac_call_ringing.xml", "udp", p.addr(), keys)
		if err := caller.Wait(); err != nil {
			t.Fatalf("caller: %v", err)
		}
		if err := callee.Wait(); err != nil {
			t.Fatalf("callee: %v", err)
		}
		v4rr, v6rr := "<sip:127.0.0.1:"+strconv.Itoa(p.SIP)+";lr;r2=on>", "<sip:[::1]:"+strconv.Itoa(p.SIP)+";lr;r2=on>"
		if m := callee.messages(); !strings.Contains(m, "Record-Route: "+v6rr+", "+v4rr) {
			t.Errorf("callee: want Record-Route %s, %s; saw:\n%s", v6rr, v4rr, tail([]byte(m), 3000))
		}
		if m := caller.messages(); !strings.Contains(m, "Route: "+v4rr+", "+v6rr) {
			t.Errorf("caller: want its ACK and BYE routed %s, %s; saw:\n%s", v4rr, v6rr, tail([]byte(m), 3000))
		}
	})
}

// TestSippLateOffer: INVITE without SDP, offer in the 200, answer in ACK.
func TestSippLateOffer(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			call(t, p, tp, "uas_late_offer.xml", "uac_late_offer.xml", "late"+tp)
		})
	}
}

// TestSippCancel: CANCEL of a ringing call reaches the callee; caller gets
// 200 and 487.
func TestSippCancel(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	for _, tp := range transports {
		t.Run(tp, func(t *testing.T) {
			call(t, p, tp, "uas_cancelled.xml", "uac_cancel.xml", "ring"+tp)
		})
	}
}

// TestSippRejections: 404, 483, 484 and both 403 cases.
func TestSippRejections(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	me := p.addr()
	ours := "<sip:" + me + ";lr>"
	cases := []struct {
		name, scenario, ruri, from, mf, route string
	}{
		{"not registered", "uac_expect_404.xml", "sip:nobody@" + me, "sip:caller@" + me, "70", ours},
		{"max-forwards 0", "uac_expect_483.xml", "sip:nobody@" + me, "sip:caller@" + me, "0", ours},
		{"no user", "uac_expect_484.xml", "sip:" + me, "sip:caller@" + me, "70", ours},
		{"relay forbidden", "uac_expect_403.xml", "sip:bob@example.net", "sip:caller@example.org", "70", ours},
		{"preloaded route", "uac_expect_403.xml", "sip:bob@" + me, "sip:caller@" + me, "70", "<sip:192.0.2.1;lr>"},
	}
	for _, tp := range transports {
		for _, tc := range cases {
			t.Run(tp+"/"+tc.name, func(t *testing.T) {
				runSipp(t, tc.scenario, tp, me, map[string]string{"ruri": tc.ruri, "from": tc.from, "mf": tc.mf, "route": tc.route})
			})
		}
	}
	c, _ := p.counters()
	if got := c["replies_4xx"]; got < int64(2*len(cases)) {
		t.Errorf("4xx replies %d, want >= %d", got, 2*len(cases))
	}
	_ = strconv.Itoa
}

// TestSippTimerC: a callee that rings and never answers is cancelled by the
// proxy after fr_inv_timeout (3 s here) and the caller gets 408.
func TestSippTimerC(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	call(t, p, "udp", "uas_cancelled.xml", "uac_timer_c.xml", "forever")
	if c, _ := p.counters(); c["timer_c_expired"] != 1 {
		t.Errorf("timer_c_expired %d", c["timer_c_expired"])
	}
}

// TestSippFrTimeout: a registered contact that never answers ends with 408
// after fr_timeout (2 s here).
func TestSippFrTimeout(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	runSipp(t, "register_short.xml", "udp", p.addr(), map[string]string{"user": "silent", "exp": "60"})
	me := p.addr()
	runSipp(t, "uac_expect_408.xml", "udp", me, map[string]string{"ruri": "sip:silent@" + me, "from": "sip:caller@" + me, "mf": "70", "route": "<sip:" + me + ";lr>"})
	if c, _ := p.counters(); c["fr_timeout_expired"] != 1 {
		t.Errorf("fr_timeout_expired %d", c["fr_timeout_expired"])
	}
}

// TestSippForking: two contacts for one AOR; the INVITE forks in parallel,
// the first answers and the proxy cancels the other ringing branch.
func TestSippForking(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	cid := fmt.Sprintf("fork-%d@test", time.Now().UnixNano())
	keys := map[string]string{"user": "forked", "cid": cid}
	ringing := startSipp(t, "uas_cancelled.xml", "udp", p.addr(), keys)
	p.waitRegistered(t, "forked", 1)
	answering := startSipp(t, "uas_register_answer.xml", "udp", p.addr(), keys)
	p.waitRegistered(t, "forked", 2)
	runSipp(t, "uac_call.xml", "udp", p.addr(), keys)
	if err := answering.Wait(); err != nil {
		t.Fatalf("answering branch: %v", err)
	}
	if err := ringing.Wait(); err != nil {
		t.Fatalf("cancelled branch: %v", err)
	}
}

// TestCtl drives `sipproxy ctl` against a running proxy.
func TestCtl(t *testing.T) {
	needSipp(t)
	p := startProxy(t)
	runSipp(t, "register_short.xml", "udp", p.addr(), map[string]string{"user": "ctluser", "exp": "60"})
	ctl := func(args ...string) string {
		out, err := exec.Command(binPath, append([]string{"ctl", "--mgmt=127.0.0.1:" + strconv.Itoa(p.Mgmt)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := ctl("list"); !strings.Contains(out, `"aor": "ctluser"`) {
		t.Fatalf("list: %s", out)
	}
	if out := ctl("counters"); !strings.Contains(out, `"registrations": 1`) {
		t.Fatalf("counters: %s", out)
	}
	if out := ctl("remove", "ctluser"); !strings.Contains(out, `"removed": 1`) {
		t.Fatalf("remove: %s", out)
	}
	if rs := p.registrations(t, "ctluser"); len(rs) != 0 {
		t.Fatalf("still registered: %+v", rs)
	}
}
