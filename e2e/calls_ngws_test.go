package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto/testport"
)

// TestCallsNGWebSocket: sipproxy drives mediad over NG on a WebSocket
// (--rtpengine-sock=ws://... and wss://..., mediad's --listen-http and
// --listen-https): a phone-to-phone call with media through mediad, set
// up and torn down with no NG over UDP at all.
func TestCallsNGWebSocket(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	httpPort, httpsPort := testport.Get(t), testport.Get(t)
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999, Extra: []string{
		"--listen-http=127.0.0.1:" + strconv.Itoa(httpPort), "--listen-https=127.0.0.1:" + strconv.Itoa(httpsPort),
		"--https-cert=" + certFile, "--https-key=" + keyFile}})
	for _, tc := range []struct{ name, sock string }{
		{"ws", "ws://127.0.0.1:" + strconv.Itoa(httpPort) + "/"},
		{"wss", "wss://127.0.0.1:" + strconv.Itoa(httpsPort) + "/ng"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := startProxy(t, nil, "--rtpengine-sock="+tc.sock, "--rtpengine-ca="+certFile)
			alice := newPhone(t, px, "alice-"+tc.name, false)
			bob := newPhone(t, px, "bob-"+tc.name, false)
			a, b := placeCall(t, alice, bob, "bob-"+tc.name)
			checkMediaThrough(t, opts.NG, a, b)
			hangupAndCheck(t, opts.NG, a, b)
		})
	}
}

// TestCallsKamailioNGWebSocket: Kamailio 5.6's rtpengine module reaches
// mediad over a WebSocket (rtpengine_sock "ws://...", wsapi "lwsc"), as
// it reaches rtpengine's --listen-http, and routes a phone-to-phone call
// with media through mediad.
func TestCallsKamailioNGWebSocket(t *testing.T) {
	if _, err := os.Stat(lwscModule); err != nil {
		t.Skipf("skipping: Kamailio's lwsc module is not installed (make deps installs kamailio-lwsc-modules): %v", err)
	}
	httpPort := testport.Get(t)
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadB, PortMax: callsMediadB + 999,
		Extra: []string{"--listen-http=127.0.0.1:" + strconv.Itoa(httpPort)}})
	px := startKamailioSock(t, "ws://127.0.0.1:"+strconv.Itoa(httpPort)+"/", 2)
	alice := newPhone(t, px, "alice-ngws", false)
	bob := newPhone(t, px, "bob-ngws", false)
	a, b := placeCall(t, alice, bob, "bob-ngws")
	checkMediaThrough(t, opts.NG, a, b)
	hangupAndCheck(t, opts.NG, a, b)
}

// TestCallsRecordedThroughSipproxy: an operator records every call by
// adding rtpengine's record-call flag to sipproxy's offer flags; mediad
// writes each call's pcap (both phones' RTP) and metadata (the offer's
// and the answer's SDP), finished when the BYE deletes the call.
func TestCallsRecordedThroughSipproxy(t *testing.T) {
	dir := t.TempDir()
	_, opts := daemon.MediadTB(t, daemon.Options{PortMin: callsMediadA, PortMax: callsMediadA + 999,
		Extra: []string{"--recording-dir=" + dir}})
	px := startProxy(t, []string{opts.NG},
		"--rtpengine-offer-udp-udp=RTP/AVP replace-session-connection replace-origin ICE=remove record-call")
	alice := newPhone(t, px, "alice-rec", false)
	bob := newPhone(t, px, "bob-rec", false)
	a, b := placeCall(t, alice, bob, "bob-rec")
	t0 := time.Now().Add(-10 * time.Second) // the call started before placeCall returned
	checkMediaThrough(t, opts.NG, a, b)
	hangupAndCheck(t, opts.NG, a, b)

	pcaps, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*.pcap"))
	metas, _ := filepath.Glob(filepath.Join(dir, "metadata", "*.txt"))
	if len(pcaps) != 1 || len(metas) != 1 {
		t.Fatalf("recordings %q, metadata %q: want one of each", pcaps, metas)
	}
	from := map[netip.AddrPort]int{}
	forEachRecord(t, pcaps[0], t0, func(src, _ netip.AddrPort, _ []byte) { from[src]++ })
	if from[a.RTP.Addr()] < 25 || from[b.RTP.Addr()] < 25 {
		t.Errorf("recorded per source %v; want at least 25 packets from each phone (%v, %v)", from, a.RTP.Addr(), b.RTP.Addr())
	}
	meta, err := os.ReadFile(metas[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(meta); !strings.HasPrefix(s, pcaps[0]+"\n") || strings.Count(s, "\nSDP mode: offer\n") != 1 ||
		strings.Count(s, "\nSDP mode: answer\n") != 1 || !strings.Contains(s, "\ncall end time: ") {
		t.Errorf("metadata:\n%s", s)
	}
}
