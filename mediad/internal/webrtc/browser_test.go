package webrtc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/dtlssrtp"
	mice "sipmedia/mediad/internal/webrtc/ice"
)

// Inside the test's network namespace the browser's only non-loopback
// interface is one end of a veth pair with this address (TEST-NET-2).
const browserNetnsEnv = "MEDIAD_BROWSER_NETNS"

var browserAddr = netip.MustParseAddr("198.51.100.1")

// TestBrowserChromium drives Debian's headless Chromium (playwright-core,
// fake microphone) against the termination: Chromium offers audio, the
// Endpoint answers as DTLS client and controlled ICE agent, RTP flows to a
// plain socket and back, and the browser's getStats shows inbound-rtp.
//
// Chromium gathers no candidates on loopback, so the test re-runs itself
// in a fresh network namespace with a veth pair (root needed).
func TestBrowserChromium(t *testing.T) {
	web := filepath.Join(repoRoot(t), "e2e", "web")
	if os.Getenv(browserNetnsEnv) == "" {
		if os.Geteuid() != 0 {
			t.Skip("skipping: needs root to create a network namespace for Chromium")
		}
		for _, need := range []string{filepath.Join(web, "node_modules", "playwright-core"), "/usr/bin/chromium"} {
			if _, err := os.Stat(need); err != nil {
				t.Fatalf("missing %s (run scripts/install-deps.sh): %v", need, err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0], "-test.run=^TestBrowserChromium$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), browserNetnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in netns:\n%s", out)
		if err != nil {
			t.Fatalf("browser test in netns: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestBrowserChromium") {
			t.Fatal("browser test did not pass in the namespace")
		}
		return
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "mb0", "type", "veth", "peer", "name", "mb1"},
		{"addr", "add", browserAddr.String() + "/24", "dev", "mb0"},
		{"link", "set", "mb0", "up"},
		{"link", "set", "mb1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Run("browser-offers", func(t *testing.T) { runBrowser(t, web, false) })
	t.Run("mediad-offers", func(t *testing.T) { runBrowser(t, web, true) })
}

// runBrowser runs one call: Chromium offers and mediad answers (DTLS
// client, controlled ICE), or with mediadOffers mediad offers actpass as
// the controlling agent and Chromium answers (mediad DTLS server).
func runBrowser(t *testing.T, web string, mediadOffers bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	cert, err := dtlssrtp.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(browserAddr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{sec: sec, plain: listenUDP(t), phone: listenUDP(t)}
	b.plainPeer = addrOf(b.phone)
	creds, err := mice.NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	b.ep, err = webrtc.NewEndpoint(webrtc.Config{Writer: b.sec, Local: addrOf(b.sec), ICE: &webrtc.ICEConfig{Local: creds, Controlling: mediadOffers}})
	if err != nil {
		t.Fatal(err)
	}
	b.ep.Start(ctx)
	b.run()
	defer b.close()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(web, "audio.html"))
	})
	mux.HandleFunc("/offer", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer, err := answerBrowser(t, b, cert, creds, string(body))
		if err != nil {
			t.Logf("offer from browser:\n%s", body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, answer)
	})
	sec2, err := webrtc.NewSecurity(cert)
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("/remote-offer", func(w http.ResponseWriter, r *http.Request) {
		local, err := sec2.OfferAttrs(webrtc.ProtoDTLSSAVPF, webrtc.Options{SDESOff: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		full := localFor(t, cert, creds, addrOf(b.sec), local.Setup, dtlssrtp.DefaultHash)
		full.Fingerprint, full.TLSID = local.Fingerprint, ""
		_, _ = io.WriteString(w, mediadSDP(addrOf(b.sec), full))
	})
	mux.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		remote, err := webrtc.ParseRemote(attrsOf(t, string(body)))
		if err == nil {
			sec2.SetAnswer(remote)
			var plan webrtc.Plan
			if plan, _, err = sec2.Plan(); err == nil {
				err = b.ep.Apply(plan)
			}
		}
		if err != nil {
			t.Logf("answer from browser:\n%s", body)
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The phone talks PCMU every 20 ms and listens for the browser's RTP.
	fromBrowser := make(chan int, 1)
	go func() {
		buf := make([]byte, 1500)
		count := 0
		for {
			n, _, err := b.phone.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil && p.PayloadType == 0 && len(p.Payload) > 0 {
				count++
				select {
				case fromBrowser <- count:
				default:
				}
			}
		}
	}()
	phoneCtx, stopPhone := context.WithCancel(ctx)
	defer stopPhone()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		payload := make([]byte, 160)
		for i := uint16(0); ; i++ {
			select {
			case <-phoneCtx.Done():
				return
			case <-tick.C:
			}
			for j := range payload {
				payload[j] = byte(0xff - (int(i)+j)%32) // a quiet PCMU ramp
			}
			_, _ = b.phone.WriteToUDPAddrPort(rtpPacket(t, i, 0x5eed, payload), addrOf(b.plain))
		}
	}()

	url := fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
	if mediadOffers {
		url += "?mode=answer"
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(web, "run-page.mjs"), url, "60000")
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
	t.Logf("browser: %+v; endpoint: %+v; ICE: %+v controlling=%v", res, b.ep.Stats(), b.ep.ICE().Stats(), b.ep.ICE().Controlling())
	if res.Error != "" {
		t.Fatalf("page error: %s\n%s", res.Error, stderr.String())
	}
	if mediadOffers != b.ep.ICE().Controlling() {
		t.Errorf("mediad controlling=%v, want %v", b.ep.ICE().Controlling(), mediadOffers)
	}
	if res.Inbound == 0 {
		t.Fatal("browser received no RTP (inbound-rtp packetsReceived = 0)")
	}
	select {
	case n := <-fromBrowser:
		if n == 0 {
			t.Fatal("no RTP from the browser")
		}
	default:
		t.Fatal("plain endpoint received no RTP from the browser")
	}
}

// answerBrowser configures the endpoint from Chromium's offer and returns
// mediad's answer: setup:active (DTLS client), controlled ICE agent.
func answerBrowser(t *testing.T, b *bridge, cert *dtlssrtp.Certificate, creds mice.Credentials, offer string) (string, error) {
	remote, err := webrtc.ParseRemote(attrsOf(t, offer))
	if err != nil {
		return "", err
	}
	if remote.Fingerprint == nil || remote.ICE.Ufrag == "" {
		return "", errors.New("offer lacks fingerprint or ICE credentials")
	}
	b.ep.ICE().SetRemote(remote.ICE, remote.Candidates)
	role := dtlssrtp.AnswerRole(remote.Setup, false)
	if err := b.ep.StartDTLS(webrtc.DTLSParams{Cert: cert, Role: role, Remote: *remote.Fingerprint}); err != nil {
		return "", err
	}
	return mediadSDP(addrOf(b.sec), localFor(t, cert, creds, addrOf(b.sec), dtlssrtp.SetupFor(role), remote.Fingerprint.Hash)), nil
}

// repoRoot finds the workspace root (the directory holding go.work).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}
