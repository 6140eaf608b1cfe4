package e2e

import (
	"context"
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
// keepalive_timeout 3 s, testdata/kamailio/kamailio-natping.cfg) and
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
		{"kamailio", func(t *testing.T) string {
			b, err := os.ReadFile(filepath.Join("testdata", "kamailio", "kamailio-natping.cfg"))
			if err != nil {
				t.Fatal(err)
			}
			port := testport.Get(t)
			runKamailio(t, strings.ReplaceAll(string(b), "PORT", strconv.Itoa(port)), port)
			return hostPort(port)
		}},
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

func newPingedUA(t *testing.T, proxy, user string) *pingedUA {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	u := &pingedUA{t: t, c: c, proxy: net.UDPAddrFromAddrPort(mustAddrPort(proxy))}
	reg := "REGISTER sip:e2e.test SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-reg" + user + ";rport\r\n" +
		"From: <sip:" + user + "@e2e.test>;tag=r1\r\nTo: <sip:" + user + "@e2e.test>\r\nCall-ID: reg-" + user + "\r\n" +
		"CSeq: 1 REGISTER\r\nContact: <sip:" + user + "@" + c.LocalAddr().String() + ">\r\nExpires: 60\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDP([]byte(reg), u.proxy); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("%s's REGISTER: %q %v", user, buf[:n], err)
	}
	return u
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
