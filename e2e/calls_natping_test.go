package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

// natIdle is how long the NAT test's router keeps an idle UDP mapping,
// and natCallAfter when bob calls after sipp registered: past it.
const (
	natIdle      = 3
	natCallAfter = 5 * time.Second
)

// TestNATPingBehindNAT: sipp registers from behind a real NAT
// (natTopology) whose router forgets a UDP mapping idle for 3 s, and bob
// calls it 5 s later. Without pings the INVITE meets a closed mapping and
// the call fails (the control: the router really forgets). With
// --natping-interval=1s the proxy's keepalives keep the mapping, and the
// call reaches sipp with media both ways through mediad.
func TestNATPingBehindNAT(t *testing.T) {
	if inside, _ := browsertest.Enter(t, browsertest.Netns{Timeout: 3 * time.Minute}); !inside {
		return
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("skipping: sipp not installed")
	}
	router, home := natTopology(t)
	for _, k := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
		cmd := exec.Command("ip", "netns", "exec", router, "sysctl", "-qw", "net.netfilter."+k+"="+strconv.Itoa(natIdle))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999, Interfaces: []string{natPublic}})
	sc := func(pub string) sippCaller {
		return sippCaller{ip: natHomeIP, proxy: pub, wrap: []string{"ip", "netns", "exec", home}, idle: natCallAfter}
	}
	t.Run("keepalive", func(t *testing.T) {
		pub := net.JoinHostPort(natPublic, strconv.Itoa(testport.Get(t)))
		startProxy(t, []string{opts.NG}, "--listen=udp:"+pub, "--natping-interval=1s")
		bob := registeredPhone(t, phone.Config{User: "bob-ka", IP: natPublic, Proxy: mustAddrPort(pub), Domain: callsDomain})
		phoneCallsSipp(t, sc(pub), bob, "alice-ka", opts.NG)
	})
	t.Run("no-pings", func(t *testing.T) {
		pub := net.JoinHostPort(natPublic, strconv.Itoa(testport.Get(t)))
		startProxy(t, []string{opts.NG}, "--listen=udp:"+pub, "--fr-timeout=2s")
		bob := registeredPhone(t, phone.Config{User: "bob-np", IP: natPublic, Proxy: mustAddrPort(pub), Domain: callsDomain})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		out, _ := sippRegistersAndAnswers(t, ctx, sc(pub), "alice-np")
		time.Sleep(natCallAfter)
		if c, err := bob.Call(ctx, "alice-np"); err == nil {
			c.Hangup(ctx)
			t.Fatalf("the call reached sipp through a mapping idle for %v: the router kept it, so the test shows nothing\nsipp: %s",
				natCallAfter, out.String())
		} else {
			t.Logf("without pings: %v", err)
		}
	})
}

// TestNATPingKamailio: Kamailio 5.6's nathelper (sipping each second,
// keepalive_timeout 3 s, testdata/kamailio/kamailio-registrar.cfg) and
// sipproxy with the same settings, each with two UDP contacts: both
// send OPTIONS to the contacts from sipping_from, keep pinging the one
// that answers and stop pinging the silent one, removed after the
// timeout.
func TestNATPingKamailio(t *testing.T) {
	if _, err := exec.LookPath(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"kamailio", startKamailioRegistrar},
		{"sipproxy", func(t *testing.T) string {
			return startProxy(t, nil, "--natping-interval=1s", "--sipping", "--sipping-from=sip:pinger@e2e.test",
				"--natping-timeout=3s").UDP.String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := tc.start(t)
			start := time.Now()
			var wg sync.WaitGroup
			pings := map[string][]time.Duration{}
			var mu sync.Mutex
			for _, user := range []string{"answers", "silent"} {
				ua := newPingedUA(t, proxy, user)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for req := range ua.options(7 * time.Second) {
						mu.Lock()
						pings[user] = append(pings[user], time.Since(start).Round(100*time.Millisecond))
						mu.Unlock()
						if !strings.HasPrefix(req, "OPTIONS sip:"+user+"@") || !strings.Contains(req, "\r\nFrom: sip:pinger@e2e.test;tag=") &&
							!strings.Contains(req, "\r\nFrom: <sip:pinger@e2e.test>;tag=") {
							t.Errorf("%s's ping:\n%s", user, req)
						}
						if user == "answers" {
							ua.answer(req)
						}
					}
				}()
			}
			wg.Wait()
			t.Logf("pings at %v", pings)
			a, s := pings["answers"], pings["silent"]
			if len(a) < 5 || a[len(a)-1] < 5*time.Second {
				t.Errorf("the answering contact got pings at %v: want one a second to the end", a)
			}
			if len(s) == 0 || s[len(s)-1] > 5*time.Second {
				t.Errorf("the silent contact got pings at %v: want some, none after its removal (3 s silent)", s)
			}
		})
	}
}

// pingedUA is a UDP contact registered at a proxy, for the pings.
type pingedUA struct {
	t     *testing.T
	c     *net.UDPConn
	proxy *net.UDPAddr
}

// startKamailioRegistrar runs Kamailio with
// testdata/kamailio/kamailio-registrar.cfg and returns its UDP address.
func startKamailioRegistrar(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "kamailio", "kamailio-registrar.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	port := testport.Get(t)
	runKamailio(t, strings.ReplaceAll(string(b), "PORT", strconv.Itoa(port)), port)
	return hostPort(port)
}

// TestRegistrarKamailio: Kamailio 5.6's registrar with max_contacts 2
// (testdata/kamailio/kamailio-registrar.cfg) and sipproxy with
// --max-contacts=2 answer the same REGISTERs alike: two contacts, then a
// third refused with 503 and P-Registrar-Error (nothing saved), then one
// removed and the third added in one REGISTER.
func TestRegistrarKamailio(t *testing.T) {
	if _, err := exec.LookPath(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	// Contacts differ in their user part: sipproxy fixes every Contact
	// of a REGISTER to its source, as the seed does.
	steps := []struct {
		contacts []string
		want     string // status, P-Registrar-Error, Contact headers
	}{
		{[]string{"<sip:mc1@192.0.2.1:5060>"}, "200  1"},
		{[]string{"<sip:mc2@192.0.2.1:5060>"}, "200  2"},
		{[]string{"<sip:mc3@192.0.2.1:5060>"}, "503 Too many registered contacts"},
		{[]string{"<sip:mc1@192.0.2.1:5060>;expires=0", "<sip:mc3@192.0.2.1:5060>"}, "200  2"},
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"kamailio", startKamailioRegistrar},
		{"sipproxy", func(t *testing.T) string { return startProxy(t, nil, "--max-contacts=2").UDP.String() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newRawUA(t, tc.start(t))
			for i, st := range steps {
				res := u.register("mc", i+1, st.contacts...)
				status := strings.Fields(res)[1]
				got := status + " " + strings.Join(sipHeaders(res, "P-Registrar-Error"), ",")
				if status == "200" {
					// Kamailio lists the bindings in one header, sipproxy in one each.
					got += " " + strconv.Itoa(strings.Count(strings.Join(sipHeaders(res, "Contact"), ","), "<sip:"))
				}
				if got != st.want {
					t.Errorf("REGISTER %d: got %q, want %q\n%s", i+1, got, st.want, res)
				}
			}
		})
	}
}

// sipHeaders returns the values of the headers named name in msg.
func sipHeaders(msg, name string) []string {
	var out []string
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// newRawUA opens a UDP socket on loopback that talks to proxy.
func newRawUA(t *testing.T, proxy string) *pingedUA {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &pingedUA{t: t, c: c, proxy: net.UDPAddrFromAddrPort(mustAddrPort(proxy))}
}

func newPingedUA(t *testing.T, proxy, user string) *pingedUA {
	t.Helper()
	u := newRawUA(t, proxy)
	if res := u.register(user, 1, "<sip:"+user+"@"+u.c.LocalAddr().String()+">"); !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("%s's REGISTER: %q", user, res)
	}
	return u
}

// register sends a REGISTER for user with these Contact values and
// returns the reply.
func (u *pingedUA) register(user string, cseq int, contacts ...string) string {
	u.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:e2e.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-reg%s%d;rport\r\n"+
		"From: <sip:%s@e2e.test>;tag=r1\r\nTo: <sip:%s@e2e.test>\r\nCall-ID: reg-%s\r\nCSeq: %d REGISTER\r\n",
		u.c.LocalAddr(), user, cseq, user, user, user, cseq)
	for _, ct := range contacts {
		b.WriteString("Contact: " + ct + "\r\n")
	}
	b.WriteString("Expires: 60\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	if _, err := u.c.WriteToUDP([]byte(b.String()), u.proxy); err != nil {
		u.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := u.c.Read(buf)
	if err != nil {
		u.t.Fatalf("%s's REGISTER %d: %v", user, cseq, err)
	}
	return string(buf[:n])
}

// options yields every OPTIONS received for d.
func (u *pingedUA) options(d time.Duration) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		buf := make([]byte, 8192)
		_ = u.c.SetReadDeadline(time.Now().Add(d))
		for {
			n, err := u.c.Read(buf)
			if err != nil {
				return
			}
			if strings.HasPrefix(string(buf[:n]), "OPTIONS ") {
				ch <- string(buf[:n])
			}
		}
	}()
	return ch
}

// answer replies 200 to the OPTIONS req.
func (u *pingedUA) answer(req string) {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, l := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(l + "\r\n")
		case "to":
			b.WriteString(l + ";tag=up\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := u.c.WriteToUDP([]byte(b.String()), u.proxy); err != nil {
		u.t.Error(err)
	}
}
