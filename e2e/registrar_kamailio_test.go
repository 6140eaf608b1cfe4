package e2e

// Comparisons of sipproxy's registrar-side features with Kamailio 5.6 as
// Kamailio's own configurations do them (testdata/kamailio/kamailio-registrar.cfg):
// NAT pings, max_contacts, antiflood.

import (
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

	"sipmedia/ngproto/testport"
)

// TestNATPingKamailio: Kamailio 5.6's nathelper (sipping each second,
// keepalive_timeout 3 s, testdata/kamailio/kamailio-registrar.cfg) and
// sipproxy with the same settings, each with two UDP contacts: both
// send OPTIONS to the contacts from sipping_from, keep pinging the one
// that answers and stop pinging the silent one, removed after the
// timeout.
func TestNATPingKamailio(t *testing.T) {
	besideKamailio(t, true, []string{"--natping-interval=1s", "--sipping", "--sipping-from=sip:pinger@e2e.test",
		"--natping-timeout=3s"}, func(t *testing.T, proxy string) {
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

// pingedUA is a UDP contact registered at a proxy, for the pings.
type pingedUA struct {
	t     *testing.T
	c     *net.UDPConn
	proxy *net.UDPAddr
}

// besideKamailio runs check as a subtest against Kamailio with
// testdata/kamailio/kamailio-registrar.cfg and against sipproxy with
// flags (the two in parallel if asked), given each one's UDP address.
func besideKamailio(t *testing.T, parallel bool, flags []string, check func(t *testing.T, proxy string)) {
	t.Helper()
	if _, err := exec.LookPath(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"kamailio", startKamailioRegistrar},
		{"sipproxy", func(t *testing.T) string { return startProxy(t, nil, flags...).UDP.String() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			check(t, tc.start(t))
		})
	}
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
	besideKamailio(t, false, []string{"--max-contacts=2"}, func(t *testing.T, proxy string) {
		u := newRawUA(t, proxy)
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
	c := testport.UDP(t)
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

// TestPikeKamailio: Kamailio 5.6's default antiflood (pike, 5 requests per
// 2 s, a ban table; testdata/kamailio/kamailio-registrar.cfg) and sipproxy
// with --pike-density=5 --pike-interval=2s, each sent 20 requests at once
// from 127.0.0.2: both answer the first 5, ban the source before the
// 16th (Kamailio's pike bans between one and three times its density,
// sipproxy at once) and answer nothing after; another source is answered.
func TestPikeKamailio(t *testing.T) {
	besideKamailio(t, true, []string{"--pike-density=5", "--pike-interval=2s"}, func(t *testing.T, proxy string) {
		got := burst(t, proxy, "127.0.0.2", 20)
		n := 0
		for i, ok := range got {
			switch {
			case ok:
				n++
			case i < 5:
				t.Errorf("request %d not answered: %v", i+1, got)
			}
		}
		if n < 5 || n > 15 || got[15] || got[19] {
			t.Errorf("answered %d of 20 (%v): want the first 5 and none from the 16th", n, got)
		}
		if other := burst(t, proxy, "127.0.0.3", 3); !other[0] || !other[1] || !other[2] {
			t.Errorf("another source: %v", other)
		}
		t.Logf("answered %d of 20 from the flooding source", n)
	})
}

// burst sends n OPTIONS from ip to proxy at once and reports which were
// answered within a second.
func burst(t *testing.T, proxy, ip string, n int) []bool {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(mustAddrPort(proxy))
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-burst.%d.\r\n"+
			"From: <sip:scan@example.com>;tag=b%d\r\nTo: <sip:%s>\r\nCall-ID: burst-%d@%s\r\nCSeq: 1 OPTIONS\r\n"+
			"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", proxy, c.LocalAddr(), i, i, proxy, i, ip)
		if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]bool, n)
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		m, err := c.Read(buf)
		if err != nil {
			return got
		}
		_, rest, _ := strings.Cut(string(buf[:m]), "branch=z9hG4bK-burst.")
		if i, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0]); err == nil && i >= 0 && i < n {
			got[i] = true
		}
	}
}
