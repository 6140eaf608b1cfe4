package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"sipmedia/e2e/internal/daemon"
	"sipmedia/ngproto"
)

// The browser test runs in a network namespace of its own: Chromium
// gathers no ICE candidates on loopback, so the namespace gets a veth pair
// with a TEST-NET-2 address that the media daemon also listens on.
const (
	browserNetnsEnv = "E2E_BROWSER_NETNS"
	browserVethAddr = "198.51.100.1"
)

// browserDaemons are the media daemons the browser test drives.
var browserDaemons = []string{"rtpengine", "mediad"}

// TestWebRTCBrowserToPhone: headless Chromium (playwright-core, fake
// microphone) offers audio from a page on localhost; the test relays the
// offer over NG with the seed's browser-to-phone flags to a plain RTP
// "phone" socket and the phone's answer back, then checks RTP reaches the
// phone and the browser's getStats counts inbound-rtp packets.
//
// Flags: the seed sends `RTP/AVP replace-session-connection replace-origin
// ICE=remove` on the offer and `UDP/TLS/RTP/SAVPF ICE=force` on the answer.
// With only those, rtpengine 10.5 answers the browser without a=rtcp-mux
// and Chromium rejects the answer; a proxy must add `rtcp-mux-demux` to the
// offer and `rtcp-mux-require` to the answer, as this test does.
func TestWebRTCBrowserToPhone(t *testing.T) {
	root, err := daemon.WorkspaceRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "e2e", "web")
	if os.Getenv(browserNetnsEnv) == "" {
		if os.Geteuid() != 0 {
			t.Skip("skipping: needs root to create a network namespace for Chromium")
		}
		for _, need := range []string{filepath.Join(web, "node_modules", "playwright-core"), "/usr/bin/chromium"} {
			if _, err := os.Stat(need); err != nil {
				t.Fatalf("missing %s (run scripts/install-deps.sh): %v", need, err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0], "-test.run=^TestWebRTCBrowserToPhone$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), browserNetnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in netns:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestWebRTCBrowserToPhone") {
			t.Fatalf("browser test in netns failed: %v", err)
		}
		return
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "eb0", "type", "veth", "peer", "name", "eb1"},
		{"addr", "add", browserVethAddr + "/24", "dev", "eb0"},
		{"link", "set", "eb0", "up"},
		{"link", "set", "eb1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	for _, name := range browserDaemons {
		t.Run(name, func(t *testing.T) {
			opts := daemon.Options{PortMin: 30000, PortMax: 30999, Extra: []string{"-i", browserVethAddr}}
			if name == "rtpengine" {
				_, opts = daemon.RtpengineTB(t, opts)
			} else {
				_, opts = daemon.MediadTB(t, opts)
			}
			t.Run("browser-offers", func(t *testing.T) { browserCall(t, web, opts.NG, false) })
			t.Run("phone-offers", func(t *testing.T) { browserCall(t, web, opts.NG, true) })
		})
	}
}

var mLine = regexp.MustCompile(`(?m)^m=audio (\d+) `)

// browserCall runs one call between the page and the phone socket; with
// phoneOffers the phone's offer goes to the browser, else the browser offers.
func browserCall(t *testing.T, web, ngAddr string, phoneOffers bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ng, err := ngproto.Dial(ngAddr, ngproto.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ng.Close()
	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	phoneAddr := phone.LocalAddr().(*net.UDPAddr).AddrPort()
	mediaPort := make(chan netip.AddrPort, 1)

	callID := "browser-call-" + strconv.FormatBool(phoneOffers)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(web, "audio.html"))
	})
	mux.HandleFunc("/offer", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer, toPhone, err := bridgeOffer(ctx, ng, callID, string(body), phoneAddr)
		if err != nil {
			t.Logf("bridging failed: %v\noffer:\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		mediaPort <- toPhone
		_, _ = io.WriteString(w, answer)
	})
	mux.HandleFunc("/remote-offer", func(w http.ResponseWriter, r *http.Request) {
		toBrowser, err := phoneOffer(ctx, ng, callID, phoneAddr)
		if err != nil {
			t.Logf("phone offer failed: %v", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, toBrowser)
	})
	mux.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		toPhone, err := browserAnswer(ctx, ng, callID, string(body))
		if err != nil {
			t.Logf("browser answer failed: %v\nanswer:\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		mediaPort <- toPhone
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The phone listens for the browser's RTP and, once it knows the
	// daemon's port, sends PCMU every 20 ms.
	fromBrowser := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := phone.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil && len(p.Payload) > 0 {
				select {
				case fromBrowser <- struct{}{}:
				default:
				}
			}
		}
	}()
	go func() {
		var to netip.AddrPort
		select {
		case to = <-mediaPort:
		case <-ctx.Done():
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 160)
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i := range payload {
				payload[i] = byte(0xff - (int(seq)+i)%32)
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5eed}, Payload: payload}
			b, _ := pkt.Marshal()
			_, _ = phone.WriteToUDPAddrPort(b, to)
		}
	}()

	url := fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
	if phoneOffers {
		url += "?mode=answer"
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(web, "run-page.mjs"), url, "90000")
	cmd.Dir = web
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run-page: %v\n%s", err, stderr.String())
	}
	var res struct {
		Inbound, Outbound int
		ICE, State, Error string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("page result %q: %v\n%s", out, err, stderr.String())
	}
	t.Logf("browser: %+v", res)
	if res.Error != "" {
		t.Fatalf("page error: %s\n%s", res.Error, stderr.String())
	}
	if res.Inbound == 0 {
		t.Fatal("browser getStats: no inbound-rtp packets")
	}
	select {
	case <-fromBrowser:
	default:
		t.Fatal("the phone received no RTP from the browser")
	}
	_, _ = ng.Do(ctx, ngproto.Dict{"command": "delete", "call-id": callID})
}

// bridgeOffer sends the browser's offer and the phone's answer through NG
// with the seed's flags (plus the rtcp-mux flags Chromium needs) and
// returns the browser's answer and where the phone must send RTP.
func bridgeOffer(ctx context.Context, ng *ngproto.Client, callID, offerSDP string, phone netip.AddrPort) (string, netip.AddrPort, error) {
	r, err := ng.Do(ctx, ngproto.Dict{
		"command": "offer", "call-id": callID, "from-tag": "browser", "sdp": offerSDP,
		"ICE": "remove", "transport-protocol": "RTP/AVP", "replace": []any{"session-connection", "origin"},
		"rtcp-mux": []any{"demux"}, "received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG offer: %w", err)
	}
	toPhone, err := replySDP(r)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG offer: %w", err)
	}
	media, err := mediaAddr(toPhone)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	r, err = ng.Do(ctx, ngproto.Dict{
		"command": "answer", "call-id": callID, "from-tag": "browser", "to-tag": "phone", "sdp": phoneSDP(phone),
		"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF", "rtcp-mux": []any{"require"},
		"received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	toBrowser, err := replySDP(r)
	if err != nil {
		return "", netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	return toBrowser, media, nil
}

// phoneOffer sends the phone's offer toward the browser (phone-to-browser
// flags of the seed plus rtcp-mux-require) and returns the browser's SDP.
func phoneOffer(ctx context.Context, ng *ngproto.Client, callID string, phone netip.AddrPort) (string, error) {
	r, err := ng.Do(ctx, ngproto.Dict{
		"command": "offer", "call-id": callID, "from-tag": "phone", "sdp": phoneSDP(phone),
		"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF", "rtcp-mux": []any{"require"},
		"received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return "", fmt.Errorf("NG offer: %w", err)
	}
	return replySDP(r)
}

// browserAnswer sends the browser's answer toward the phone and returns
// where the phone must send RTP.
func browserAnswer(ctx context.Context, ng *ngproto.Client, callID, answerSDP string) (netip.AddrPort, error) {
	r, err := ng.Do(ctx, ngproto.Dict{
		"command": "answer", "call-id": callID, "from-tag": "phone", "to-tag": "browser", "sdp": answerSDP,
		"ICE": "remove", "transport-protocol": "RTP/AVP", "replace": []any{"session-connection", "origin"},
		"rtcp-mux": []any{"demux"}, "received-from": []any{"IP4", "127.0.0.1"},
	})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	toPhone, err := replySDP(r)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("NG answer: %w", err)
	}
	return mediaAddr(toPhone)
}

func phoneSDP(phone netip.AddrPort) string {
	return fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 %[1]s\r\ns=phone\r\nc=IN IP4 %[1]s\r\nt=0 0\r\n"+
		"m=audio %[2]d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", phone.Addr(), phone.Port())
}

// mediaAddr is where the daemon receives the phone's RTP, from the SDP it
// wrote for the phone (loopback: the first -i address).
func mediaAddr(sdp string) (netip.AddrPort, error) {
	m := mLine.FindStringSubmatch(sdp)
	if m == nil {
		return netip.AddrPort{}, fmt.Errorf("no m=audio in the SDP for the phone:\n%s", sdp)
	}
	port, _ := strconv.Atoi(m[1])
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), nil
}

func replySDP(r ngproto.Dict) (string, error) {
	if res := r.Result(); res != "ok" {
		reason, _ := r.Get("error-reason")
		return "", fmt.Errorf("result %q: %v", res, reason)
	}
	v, _ := r.Get("sdp")
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	}
	return "", fmt.Errorf("reply has no sdp: %v", r)
}
