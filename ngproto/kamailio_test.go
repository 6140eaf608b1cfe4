package ngproto

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sipmedia/ngproto/testport"
)

const kamailioBin = "/usr/sbin/kamailio"

// TestFlagStringMatchesKamailio runs Debian's Kamailio with its rtpengine
// module pointed at an ngproto Server, sends it INVITEs whose flag string
// comes in a header, and compares the dictionary the module sends with
// ParseFlagString(..., Kamailio).
func TestFlagStringMatchesKamailio(t *testing.T) {
	if _, err := os.Stat(kamailioBin); err != nil {
		t.Skipf("skipping: %s not installed (%v)", kamailioBin, err)
	}
	checkGoroutines(t)
	var mu sync.Mutex
	got := map[string]Dict{}
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req Dict, from netip.AddrPort) Dict {
		if req.Str("command") == "ping" {
			return Pong()
		}
		r := OK()
		r["sdp"] = req.Str("sdp")
		mu.Lock()
		got[req.Str("call-id")] = req.Clone()
		mu.Unlock()
		return r
	})}
	ng := startServer(t, srv, "127.0.0.1:0")
	sipPort := testport.Get(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=1
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:%d
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:%s")
request_route {
	rtpengine_offer("$hdr(X-Flags)");
	sl_send_reply("200", "OK");
	exit;
}
`, sipPort, ng.LocalAddr().String())
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kamailioBin, "-f", cfgPath, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "k.pid"), "-w", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("skipping: cannot start kamailio: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group we created
		<-exited
		if t.Failed() {
			t.Logf("kamailio output:\n%s", out.String())
		}
	})

	sip := rawSocket(t, fmt.Sprintf("127.0.0.1:%d", sipPort))
	local := sip.LocalAddr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	invite := func(callID, flags string) {
		msg := "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + callID + "\r\n" +
			"From: <sip:alice@127.0.0.1>;tag=ft\r\nTo: <sip:bob@127.0.0.1>\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
			"Contact: <sip:alice@" + local + ">\r\nX-Flags: " + flags + "\r\n" +
			"Content-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(sdp)) + "\r\n\r\n" + sdp
		buf := make([]byte, 65536)
		for i := 0; i < 100; i++ {
			_, _ = sip.Write([]byte(msg))
			_ = sip.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := sip.Read(buf)
			// a late 200 for an earlier retransmitted INVITE is not ours
			if err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") &&
				strings.Contains(string(buf[:n]), "Call-ID: "+callID+"\r\n") {
				return
			}
			if err != nil && !isTimeout(err) {
				time.Sleep(100 * time.Millisecond) // not listening yet
			}
		}
		t.Fatalf("kamailio never answered the INVITE for %q", flags)
	}

	cases := []string{
		"RTP/AVP replace-session-connection replace-origin ICE=remove",
		"ICE=force-relay DTLS=passive",
		"UDP/TLS/RTP/SAVPF ICE=force",
		"trust-address replace-origin rtcp-mux-demux rtcp-mux-offer SDES-off SDES-no-AES_CM_128_HMAC_SHA1_32",
		"direction=pub direction=priv label=x media-address=10.0.0.1",
		"internal external RTP AVPF",
		"codec-strip-PCMA transcode-opus codec-mask=G722 codec-offer-PCMU",
		"RTP DTLS AVPF TOS=184 address-family=IP6",
		"strict-source  loop-protect   asymmetric",
		"delete-delay=5 replace=origin rtcp-mux=require SDES=off",
		// (codec-accept-X and codec-consume-X are left out: Kamailio 5.6
		// sends them as flags, newer modules in the codec dictionary as
		// ParseFlagString does)
		"T38-decode T.38-force codec-set-PCMA/8000 codec-except-opus",
		"directional to-tag via-branch=1 from-tag=ft",
	}
	for i, flags := range cases {
		callID := fmt.Sprintf("kam-%d", i)
		invite(callID, flags)
		mu.Lock()
		sent := got[callID].Clone()
		mu.Unlock()
		if sent == nil {
			t.Fatalf("%q: kamailio sent no offer", flags)
		}
		want, err := ParseFlagString(flags, Kamailio)
		if err != nil {
			t.Fatalf("%q: %v", flags, err)
		}
		// keys the module takes from the SIP message, not the flag string
		for _, k := range []string{"command", "call-id", "from-tag", "to-tag", "sdp", "received-from", "supports", "sip-message-type", "via-branch"} {
			delete(sent, k)
			delete(want, k)
		}
		if !reflect.DeepEqual(sent, want) {
			t.Errorf("%q:\n kamailio %#v\n ngproto  %#v", flags, sent, want)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
