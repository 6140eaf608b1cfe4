package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/e2e/internal/phone"
	"sipmedia/ngproto/testport"
)

const (
	kamailioPath = "/usr/sbin/kamailio"
	// lwscModule is Kamailio's WebSocket client, which its rtpengine
	// module needs for a ws:// or wss:// rtpengine_sock.
	lwscModule = "/usr/lib/x86_64-linux-gnu/kamailio/modules/lwsc.so"
)

// startKamailio runs Kamailio 5.6 with testdata/kamailio/kamailio.cfg, its
// rtpengine module pointed at ng (UDP), and returns its UDP and WS
// addresses.
func startKamailio(t *testing.T, ng string, children int) *proxy {
	t.Helper()
	return startKamailioSock(t, "udp:"+ng, children)
}

// startKamailioSock is startKamailio with the rtpengine_sock value sock:
// udp:HOST:PORT, or a ws:// URL, for which the lwsc module is loaded;
// defines are set in the configuration (#!define).
func startKamailioSock(t *testing.T, sock string, children int, defines ...string) *proxy {
	t.Helper()
	if _, err := os.Stat(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "kamailio", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	port, ws := testport.Get(t), testport.Get(t)
	cfg := strings.NewReplacer("PORT", strconv.Itoa(port), "HTTPLISTEN", strconv.Itoa(ws), "NGSOCK", sock,
		"CHILDREN", strconv.Itoa(children)).Replace(string(b))
	if strings.HasPrefix(sock, "ws") {
		defines = append(defines, "NG_WEBSOCKET")
	}
	for _, d := range defines {
		cfg = strings.Replace(cfg, "#!KAMAILIO\n", "#!KAMAILIO\n#!define "+d+"\n", 1)
	}
	return &proxy{UDP: mustAddrPort(hostPort(port)), TCP: hostPort(port), WS: hostPort(ws), Proc: runKamailio(t, cfg, port)}
}

// runKamailio starts Kamailio with the configuration text cfg, ready once
// it listens on TCP port.
func runKamailio(t *testing.T, cfg string, port int) *daemon.Process {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return daemon.StartTB(t, daemon.Spec{Name: "kamailio", Path: kamailioPath,
		Args:  []string{"-f", path, "-DD", "-E", "-m", "64", "-M", "16", "-Y", dir},
		Ready: daemon.TCPReady(hostPort(port))})
}

// TestCallsKamailio: Kamailio 5.6 from Debian, its rtpengine module
// pointed at mediad, routes phone-to-phone calls with media through
// mediad: early offer, with a re-INVITE, an UPDATE and a re-INVITE
// without SDP from each side after it; late offer; a reliable 183 (RFC
// 3262) with the answer, or with a late offer answered in the PRACK.
func TestCallsKamailio(t *testing.T) {
	if _, err := exec.LookPath(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999})
	px := startKamailio(t, opts.NG, 2)
	for _, tc := range []struct {
		name           string
		late, reliable bool
	}{
		{name: "early-offer"}, {name: "late-offer", late: true},
		{name: "100rel", reliable: true}, {name: "100rel-late-offer", late: true, reliable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice := newPhone(t, px, "alice-"+tc.name, tc.late)
			bob := registeredPhone(t, phone.Config{User: "bob-" + tc.name, Proxy: px.UDP, Domain: callsDomain, Reliable: tc.reliable})
			a, b := placeCall(t, alice, bob, "bob-"+tc.name)
			checkMediaThrough(t, opts.NG, a, b)
			if tc.name == "early-offer" {
				for _, r := range allReoffers {
					renegotiateBothWays(t, opts.NG, a, b, r)
				}
			}
			hangupAndCheck(t, opts.NG, a, b)
		})
	}
}

// TestCallsKamailioPlayDTMF: Kamailio 5.6 turns SIP INFO DTMF
// (application/dtmf-relay) from alice into its rtpengine module's
// play_dtmf, on calls set up with inject-DTMF: bob hears alice's digits
// as RFC 4733 events in her audio, through rtpengine 10.5 and through
// mediad alike.
func TestCallsKamailioPlayDTMF(t *testing.T) {
	if _, err := exec.LookPath(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	for i, name := range []string{"rtpengine", "mediad"} {
		t.Run(name, func(t *testing.T) {
			base := callsMediadB + 500*i
			_, opts := daemon.ByNameTB(t, name, daemon.Options{PortMin: base, PortMax: base + 499})
			checkInfoDTMF(t, opts.NG, startKamailioSock(t, "udp:"+opts.NG, 2, "INJECT_DTMF"), false)
		})
	}
}

// checkInfoDTMF: alice calls bob through px, which plays SIP INFO DTMF
// into the media; alice sends 7 and # as INFO (application/dtmf-relay;
// with bare, # as application/dtmf, which the Kamailio script does not
// take), and bob must receive them as RFC 4733 events, alice none.
func checkInfoDTMF(t *testing.T, ng string, px *proxy, bare bool) {
	t.Helper()
	alice := newPhone(t, px, "alice", false)
	bob := newPhone(t, px, "bob", false)
	a, b := placeCall(t, alice, bob, "bob")
	// rtpengine transcodes a call set up for injection, under an SSRC of
	// its own: count PCMU, whoever's.
	if !eventually(10*time.Second, func() bool { return a.RTP.ReceivedPT(0) >= 25 && b.RTP.ReceivedPT(0) >= 25 }) {
		t.Fatalf("PCMU through the media daemon: alice got %d, bob %d", a.RTP.ReceivedPT(0), b.RTP.ReceivedPT(0))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	infos := []struct{ ct, body string }{
		{"application/dtmf-relay", "Signal=7\r\nDuration=160\r\n"},
		{"application/dtmf-relay", "Signal=#\r\nDuration=160\r\n"},
	}
	if bare {
		infos[1] = struct{ ct, body string }{"application/dtmf", "#"}
	}
	for _, info := range infos {
		if err := a.Info(ctx, info.ct, []byte(info.body)); err != nil {
			t.Fatalf("INFO %q: %v", info.body, err)
		}
		time.Sleep(700 * time.Millisecond) // the digit, its end and the pause
	}
	ev, ok := phone.EventPT(b.Received)
	if !ok {
		t.Fatalf("no telephone-event in the SDP bob got:\n%s", b.Received)
	}
	if got := b.RTP.Events(ev); !slices.Equal(got, []uint8{7, 11}) {
		t.Errorf("bob got events %v in %d telephone-event packets, want 7 and 11 (#)", got, b.RTP.ReceivedPT(ev))
	}
	if got := a.RTP.ReceivedPT(ev); got != 0 {
		t.Errorf("alice got %d telephone-event packets, want none (the digits were hers)", got)
	}
	hangupAndCheck(t, ng, a, b)
}

// TestCallsKamailioBrowserToPhone: a browser (JsSIP over WS) registered at
// Kamailio calls a UDP phone; Kamailio's rtpengine module applies the
// seed's flag matrix (with the rtcp-mux flags) against the daemon, to the
// browser's hold and resume UPDATEs too, and to the phone's re-INVITE and
// UPDATE after them (which must reach the browser at its fixed Contact).
func TestCallsKamailioBrowserToPhone(t *testing.T) {
	if !inKamailioBrowserNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		px := startKamailio(t, ng, 2)
		bob := newPhone(t, px, "bob", false)
		media := make(chan struct{}, 1)
		url := servePage(t, bundle, pageSignals{Media: media}) + "?mode=call&hold=update&phonehold=1&phoneoffers=reinvite,update&user=alice&target=bob&ws=ws://" + px.WS
		res, c := browserCallsPhone(t, url, "", bob, media, (*phone.Call).Reinvite, (*phone.Call).Update)
		checkHeld(t, res)
		checkPhoneReoffers(t, res, 2)
		checkBrowserPhoneMedia(t, res, c, ng)
	})
}

// TestCallsKamailioPhoneToBrowser: a UDP phone calls a browser registered
// at Kamailio over WS (the seed's scenario 3 with Kamailio's rtpengine
// module on the daemon): the browser holds and resumes, the phone
// re-offers, and with a late offer the browser offers in its 200 OK.
func TestCallsKamailioPhoneToBrowser(t *testing.T) {
	if !inKamailioBrowserNetns(t) {
		return
	}
	bundle := jssipBundle(t)
	forBrowserDaemons(t, func(t *testing.T, ng string) {
		forOffers(t, func(t *testing.T, late bool) {
			px := startKamailio(t, ng, 2)
			phoneCallsBrowser(t, bundle, ng, px, "ws://"+px.WS, late, "1")
		})
	})
}

// inKamailioBrowserNetns is inCallsNetns for a browser test through
// Kamailio, skipped when Kamailio is not installed.
func inKamailioBrowserNetns(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat(kamailioPath); err != nil {
		t.Skipf("skipping: %s not installed", kamailioPath)
	}
	return inCallsNetns(t)
}
