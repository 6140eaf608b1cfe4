package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/browsertest"
	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto"
)

// The browser calls tests: headless Chromium with JsSIP (bundled from npm
// by esbuild) registers at sipproxy over WSS or WS and calls, or is called
// by, a Go UDP phone; media through the daemon. Like
// TestWebRTCBrowserToPhone they run in a network namespace with a veth
// address the daemon also listens on (Chromium gathers no candidates on
// loopback). Each test runs with rtpengine (the reference: the proxy's
// signalling and flags) and with mediad; a mediad run skips, saying so,
// if mediad offers no DTLS-SRTP toward a browser.

var (
	subResult  = regexp.MustCompile(`--- (PASS|SKIP): (\S+) \(`)
	skipReason = regexp.MustCompile(`(?m)(skipping: .*)$`)
)

// inCallsNetns re-runs the test in a new network namespace and reports
// false (the caller returns), or sets the namespace up and reports true
// when already inside.
func inCallsNetns(t *testing.T) bool {
	t.Helper()
	inside, out := browsertest.Enter(t, browsertest.Netns{
		Timeout: 5 * time.Minute,
		Need:    []string{filepath.Join("node_modules", "jssip"), filepath.Join("node_modules", ".bin", "esbuild")},
	})
	if inside {
		return true
	}
	// Mirror the subtests' outcomes (a skipped daemon shows as skipped,
	// with its reason, here too).
	for _, m := range subResult.FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(m[2], t.Name()+"/") {
			continue
		}
		sub, status := strings.TrimPrefix(m[2], t.Name()+"/"), m[1]
		t.Run(sub, func(t *testing.T) {
			if status == "SKIP" {
				reason := "skipped in the namespace"
				if r := skipReason.FindStringSubmatch(out[:strings.Index(out, m[0])]); r != nil {
					reason = r[len(r)-1]
				}
				t.Skip(reason)
			}
		})
	}
	return false
}

// jssipBundle builds JsSIP from e2e/web/node_modules into a browser bundle.
func jssipBundle(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "jssip.min.js")
	cmd := exec.Command(filepath.Join("node_modules", ".bin", "esbuild"), filepath.Join("node_modules", "jssip", "lib", "JsSIP.js"),
		"--bundle", "--format=iife", "--global-name=JsSIP", "--minify", "--log-level=warning", "--outfile="+out)
	cmd.Dir = "web"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild JsSIP: %v\n%s", err, b)
	}
	return out
}

// browserDaemon starts the named daemon listening on loopback and the veth
// address, for the browser tests.
func browserDaemon(t *testing.T, name string) string {
	t.Helper()
	_, opts := daemon.ByNameTB(t, name, daemon.Options{PortMin: callsRtpengie, PortMax: callsRtpengie + 999, Extra: []string{"-i", browsertest.VethAddr}})
	if name == "mediad" {
		skipIfNoWebRTC(t, opts.NG)
	}
	return opts.NG
}

// skipIfNoWebRTC probes the daemon with a phone offer toward a browser
// (the seed's flags): without a DTLS fingerprint in the output the daemon
// cannot talk to a browser, and the test is skipped with that reason.
func skipIfNoWebRTC(t *testing.T, ng string) {
	t.Helper()
	id := "webrtc-probe"
	r := ngDo(t, ng, ngproto.Dict{"command": "offer", "call-id": id, "from-tag": "p",
		"sdp":                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\n",
		"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": []any{"require"}})
	ngDo(t, ng, ngproto.Dict{"command": "delete", "call-id": id})
	if sdp := r.Str("sdp"); !strings.Contains(sdp, "a=fingerprint") || !strings.Contains(sdp, "UDP/TLS/RTP/SAVPF") {
		t.Skipf("skipping: mediad does not offer DTLS-SRTP toward a browser yet (WebRTC not integrated into its call model); its offer:\n%s", sdp)
	}
}

type pageResult struct {
	Inbound, Outbound int
	ICE               string
	Alice, Bob        *pageResult
	Error             string
	// Held: the browser held and resumed the call (hold=1);
	// InboundAfter is its inbound-rtp count after that.
	Held         bool
	InboundAfter int
	// PhoneOffers: how many of the phone's re-offers reached the
	// browser (phonehold=1); InboundAfterPhone has the inbound count
	// after each.
	PhoneOffers       int
	InboundAfterPhone []int
	// Canceled: the browser hung up while the callee rang (cancel=1)
	// and JsSIP ended the call as canceled.
	Canceled bool
	// Transfer is the media of the call the browser placed when the
	// phone transferred it (transfer=accept); Transferred: the browser
	// transferred the phone and was told of the 200 (transfer=NAME).
	Transfer    *pageResult
	Transferred bool
}

// pageSignals are the page's POSTs a test may wait for (nil: ignored):
// /registered in answer mode, /media with phonehold=1 (media flows, the
// phone may re-offer now), /transfer with transfer=accept (the phone may
// REFER now).
type pageSignals struct {
	Registered, Media, Transfer chan<- struct{}
}

// servePage serves sipcall.html and the JsSIP bundle on localhost, and
// the page's signals.
func servePage(t *testing.T, bundle string, sig pageSignals) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/jssip.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	for path, ch := range map[string]chan<- struct{}{"/registered": sig.Registered, "/media": sig.Media, "/transfer": sig.Transfer} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			select {
			case ch <- struct{}{}:
			default:
			}
		})
	}
	return browsertest.Serve(t, filepath.Join("web", "sipcall.html"), mux)
}

// runPage opens url in headless Chromium, with driver (a module in web)
// working the page if not "", and returns the page's result.
func runPage(ctx context.Context, t *testing.T, url, driver string) pageResult {
	t.Helper()
	var res pageResult
	if err := browsertest.DrivePage(ctx, "web", url, driver, time.Minute, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func forBrowserDaemons(t *testing.T, f func(t *testing.T, ng string)) {
	for _, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) { f(t, browserDaemon(t, name)) })
	}
}

// TestCallsBrowserToPhone: the browser registers as alice over WSS and
// calls bob, a UDP phone with plain RTP that answers with early media (183
// with SDP, then the 200 with the same): bob receives the browser's audio,
// the browser's inbound-rtp rises; the browser holds and resumes the call
// and media flows again; then bob, who was called, re-offers in a
// re-INVITE, in an UPDATE (RFC 3311) and by a re-INVITE without SDP (the
// browser offers in the 200, bob answers in the ACK), and media flows
// again after each; the browser hangs up and the daemon holds no call.
func TestCallsBrowserToPhone(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startProxy(t, []string{ng})
		bob := registeredPhone(t, phone.Config{User: "bob", Proxy: px.UDP, Domain: callsDomain, EarlyMedia: true})
		media := make(chan struct{}, 1)
		url := servePage(t, bundle, pageSignals{Media: media}) + "?mode=call&hold=1&phonehold=1&phoneoffers=reinvite,update,reinvite&user=alice&target=bob&ws=wss://" + px.WSS
		res, c := browserCallsPhone(t, url, "", bob, media, allReoffers...)
		checkHeld(t, res)
		checkPhoneReoffers(t, res, len(allReoffers))
		checkBrowserPhoneMedia(t, res, c, ng)
	})
}

// reoffer is one of the phone's ways to re-offer: (*phone.Call).Reinvite,
// ReinviteLate or Update.
type reoffer = func(*phone.Call, context.Context) error

// allReoffers: a re-INVITE, an UPDATE, a re-INVITE without SDP, as the
// page's phoneoffers=reinvite,update,reinvite expects them.
var allReoffers = []reoffer{(*phone.Call).Reinvite, (*phone.Call).Update, (*phone.Call).ReinviteLate}

// checkPhoneReoffers: the phone's n re-offers reached the browser (page
// phonehold=1) and after each the browser received at least 10 more
// packets.
func checkPhoneReoffers(t *testing.T, res pageResult, n int) {
	t.Helper()
	if res.PhoneOffers != n || len(res.InboundAfterPhone) != n {
		t.Errorf("the phone's re-offers: %d of %d reached the browser", res.PhoneOffers, n)
		return
	}
	last := res.InboundAfter
	for i, in := range res.InboundAfterPhone {
		if in < last+10 {
			t.Errorf("after the phone's re-offer %d: inbound-rtp %d -> %d (want 10 more)", i, last, in)
		}
		last = in
	}
}

// reofferOnSignal runs each of reoffers on c once the page signals on
// media (it has seen media flow again); a nil c or a page that stopped
// signalling ends it early (the page's failure says why).
func reofferOnSignal(ctx context.Context, c *phone.Call, media <-chan struct{}, reoffers []reoffer) error {
	for i, r := range reoffers {
		select {
		case <-media:
		case <-ctx.Done():
			return nil
		}
		if err := r(c, ctx); err != nil {
			return fmt.Errorf("the phone's re-offer %d: %w", i, err)
		}
	}
	return nil
}

// checkHeld: the browser held and resumed the call (page hold=1) and
// then received at least 10 more packets.
func checkHeld(t *testing.T, res pageResult) {
	t.Helper()
	if !res.Held || res.InboundAfter < res.Inbound+10 {
		t.Errorf("after the browser's hold and resume: done %v, inbound-rtp %d -> %d (want 10 more)", res.Held, res.Inbound, res.InboundAfter)
	}
}

// TestCallsPhoneToBrowser: the reverse: bob (UDP phone) calls alice, a
// browser registered over WSS, reached over her WSS flow with the DST_WS
// flags (SAVPF, ICE, rtcp-mux toward her). Then alice holds and resumes
// the call, by UPDATE (RFC 3311; JsSIP's useUpdate): her offers (SRC_WS
// flags, DTLS actpass) must be answered with the DTLS role the daemon
// already has, or Chromium drops the call; then bob re-offers, and media
// must flow after each. In late-offer bob's INVITE has no SDP: the
// browser offers in its 200 OK (the daemon's offer toward bob) and gets
// bob's answer in the ACK.
func TestCallsPhoneToBrowser(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		forOffers(t, func(t *testing.T, late bool) {
			px := startProxy(t, []string{ng})
			phoneCallsBrowser(t, bundle, ng, px, "wss://"+px.WSS, late, "update")
		})
	})
}

// forOffers runs f as subtests early-offer (the INVITE carries SDP) and
// late-offer (it does not).
func forOffers(t *testing.T, f func(t *testing.T, late bool)) {
	t.Run("early-offer", func(t *testing.T) { f(t, false) })
	t.Run("late-offer", func(t *testing.T) { f(t, true) })
}

// phoneCallsBrowser is one call from a phone through px to the browser on
// ws; the holds (the page's hold=, 1 or update) and re-INVITEs come with
// the early offer only.
func phoneCallsBrowser(t *testing.T, bundle, ng string, px *proxy, ws string, late bool, hold string) {
	bob := newPhone(t, px, "bob", late)
	registered, media := make(chan struct{}, 1), make(chan struct{}, 1)
	query := "?mode=answer&user=alice&ws=" + ws
	reoffers := []reoffer{(*phone.Call).Reinvite}
	if late {
		reoffers = nil
	} else {
		query += "&hold=" + hold + "&phonehold=1"
	}
	url := servePage(t, bundle, pageSignals{Registered: registered, Media: media}) + query
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	called := alongside(ctx, t, "bob's call", func(ctx context.Context) (*phone.Call, error) {
		select {
		case <-registered:
		case <-ctx.Done():
			return nil, nil // the page's failure says why
		}
		c, err := bob.Call(ctx, "alice")
		if err != nil {
			return c, err
		}
		// After alice's hold and resume, bob re-offers too: the
		// daemon's actpass offer to a browser that is DTLS-active.
		return c, reofferOnSignal(ctx, c, media, reoffers)
	})
	res := runPage(ctx, t, url, "")
	c := called()
	if c == nil {
		t.Fatalf("page result %+v", res)
	}
	if !late {
		checkHeld(t, res)
		checkPhoneReoffers(t, res, len(reoffers))
	}
	checkBrowserPhoneMedia(t, res, c, ng)
}

// TestCallsBrowserCancels: the browser calls bob, who only rings, and
// hangs up: its CANCEL over WSS reaches bob (who answers the INVITE 487)
// and the daemon's offer is deleted.
func TestCallsBrowserCancels(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startProxy(t, []string{ng})
		bob := newPhone(t, px, "bob", false)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		rung := make(chan *phone.Msg, 1)
		go func() {
			inv, _ := bob.Ring(ctx)
			rung <- inv
		}()
		url := servePage(t, bundle, pageSignals{}) + "?mode=call&cancel=1&user=alice&target=bob&ws=wss://" + px.WSS
		res := runPage(ctx, t, url, "")
		if !res.Canceled {
			t.Errorf("page result %+v, want the call canceled", res)
		}
		if inv := <-rung; inv == nil || len(inv.Body) == 0 {
			t.Fatal("bob was not rung with an offer")
		}
		if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
			t.Errorf("daemon still holds %v after the CANCEL", ngCalls(t, ng))
		}
	})
}

// TestCallsForkToBrowserAndPhone: bob is registered on a browser and on
// a UDP phone; alice (UDP phone) calls him, the INVITE forks with an offer
// per branch (WebRTC toward the browser, plain toward the phone, each
// branch's own via-branch at the daemon); the phone only rings, the
// browser answers, the phone's branch is cancelled, and media flows
// between alice and the browser.
func TestCallsForkToBrowserAndPhone(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startProxy(t, []string{ng})
		alice := newPhone(t, px, "alice", false)
		deskBob := newPhone(t, px, "bob", false)
		registered := make(chan struct{}, 1)
		url := servePage(t, bundle, pageSignals{Registered: registered}) + "?mode=answer&user=bob&ws=wss://" + px.WSS
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		rung := make(chan *phone.Msg, 1)
		go func() {
			inv, _ := deskBob.Ring(ctx)
			rung <- inv
		}()
		called := alongside(ctx, t, "alice's call", func(ctx context.Context) (*phone.Call, error) {
			select {
			case <-registered:
			case <-ctx.Done():
				return nil, nil // the page's failure says why
			}
			return alice.Call(ctx, "bob")
		})
		res := runPage(ctx, t, url, "")
		c := called()
		if c == nil {
			t.Fatalf("page result %+v", res)
		}
		if inv := <-rung; inv == nil || strings.Contains(string(inv.Body), "a=fingerprint") {
			t.Errorf("bob's desk phone was not rung with a plain offer: %v", inv)
		}
		checkBrowserPhoneMedia(t, res, c, ng)
	})
}

// TestCallsBrowserToBrowser: alice and bob, both browsers over WS, call
// each other with the SRC_WS+DST_WS flags. Their own candidates are taken
// out of the SDP, as when browsers cannot reach each other (NAT, mDNS
// names), so the media must cross the daemon. Then bob holds and resumes
// the call, and media must flow both ways again.
func TestCallsBrowserToBrowser(t *testing.T) {
	if !inCallsNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startProxy(t, []string{ng})
		url := servePage(t, bundle, pageSignals{}) + "?mode=b2b&relay=1&hold=1&ws=ws://" + px.WS
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		res := runPage(ctx, t, url, "")
		if res.Alice == nil || res.Bob == nil {
			t.Fatalf("page result %+v", res)
		}
		t.Logf("alice: %+v, bob: %+v", *res.Alice, *res.Bob)
		if res.Alice.Inbound < 10 || res.Bob.Inbound < 10 {
			t.Errorf("inbound-rtp: alice %d, bob %d; want >= 10 each", res.Alice.Inbound, res.Bob.Inbound)
		}
		// bob held and resumed the call: his re-INVITEs went to alice
		// with the WS-to-WS strings, and both hear the other again.
		checkHeld(t, *res.Alice)
		checkHeld(t, *res.Bob)
		if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
			t.Errorf("daemon still holds %v after the hangup", ngCalls(t, ng))
		}
		// The browsers' own candidates were taken out (relay=1): each
		// browser's 25 RTP packets and more crossed the daemon, which
		// passes ICE and DTLS through between browsers.
		st := ngDo(t, ng, ngproto.Dict{"command": "statistics"})
		if n, _ := st.Sub("statistics").Sub("totalstatistics").Int("relayedpackets"); n < 50 {
			t.Errorf("daemon's statistics: %d packets relayed, want >= 50", n)
		}
	})
}

// browserCallsPhone runs the call page at url (the browser calls; driver
// as for runPage) while bob answers, and returns the page's result and
// bob's side of the call. With media (the page's /media signal,
// phonehold=1) bob re-offers with each of reoffers once the page says so:
// toward the browser that called, a re-offer must keep its mid, its forced
// rtcp-mux and its DTLS alone, and reach it at its fixed Contact.
func browserCallsPhone(t *testing.T, url, driver string, bob *phone.Phone, media <-chan struct{}, reoffers ...reoffer) (pageResult, *phone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	answered := alongside(ctx, t, "bob", func(ctx context.Context) (*phone.Call, error) {
		c, err := bob.Answer(ctx)
		if err != nil {
			return c, err
		}
		return c, reofferOnSignal(ctx, c, media, reoffers)
	})
	res := runPage(ctx, t, url, driver)
	c := answered()
	if c == nil {
		t.FailNow()
	}
	return res, c
}

// alongside runs f, the phone's side of a call, while the test drives the
// browser, and returns what waits for f's call; f's error fails t. The
// goroutine ends before the test does, on a Fatal too (the cleanup cancels
// and waits): an Errorf after the test's end would panic the test binary
// and skip every cleanup, leaving daemons running.
func alongside(ctx context.Context, t *testing.T, what string, f func(context.Context) (*phone.Call, error)) func() *phone.Call {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan *phone.Call, 1)
	go func() {
		defer close(done)
		c, err := f(ctx)
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
		done <- c
	}()
	t.Cleanup(func() {
		cancel()
		for range done {
		}
	})
	return func() *phone.Call { return <-done }
}

// checkEnded: the browser hung up; the phone got the BYE and the daemon
// holds no call.
func checkEnded(t *testing.T, c *phone.Call, ng string) {
	t.Helper()
	waitEnded(t, c)
	if !eventually(3*time.Second, func() bool { return len(ngCalls(t, ng)) == 0 }) {
		t.Errorf("daemon still holds %v after the hangup", ngCalls(t, ng))
	}
}

// waitEnded: the browser hung up and its BYE reached the phone.
func waitEnded(t *testing.T, c *phone.Call) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Error("the browser's BYE did not reach the phone")
	}
}

// checkBrowserPhoneMedia: audio went both ways between the browser and the
// phone, and the call is over everywhere once the page has hung up.
func checkBrowserPhoneMedia(t *testing.T, res pageResult, c *phone.Call, ng string) {
	t.Helper()
	checkBrowserPhoneAudio(t, res, c)
	checkEnded(t, c, ng)
}

// checkBrowserPhoneAudio: audio went both ways between the browser and the
// phone.
func checkBrowserPhoneAudio(t *testing.T, res pageResult, c *phone.Call) {
	t.Helper()
	t.Logf("browser: %+v; bob received %d packets", res, c.RTP.Received())
	if res.Inbound < 10 || c.RTP.Received() < 10 {
		t.Errorf("media: browser inbound-rtp %d, bob received %d; want >= 10 each", res.Inbound, c.RTP.Received())
	}
}
