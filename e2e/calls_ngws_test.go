package e2e

import (
	"os"
	"strconv"
	"testing"

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
