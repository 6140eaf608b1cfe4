package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The media keys (rtpengine-*) and the demo keys work as flags and as
// config-file keys; bad sockets and flag strings are refused.
func TestMediaKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sipproxy.cfg")
	// Several sockets in one value, space-separated, as the modules take them.
	body := "rtpengine_sock=udp:127.0.0.1:2223=3 udp6:[::1]:2225\nrtpengine_sock=udp:127.0.0.1:2224\n" +
		"rtpengine-offer-ws-udp=RTP/AVP ICE=remove rtcp-mux-demux\nrtpengine_timeout=250ms\nhttp-demo=127.0.0.1:8444\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]string{"--config=" + file, "--listen=udp:127.0.0.1:5060", "--rtpengine-retries=2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Media
	if len(m.Socks) != 3 || m.Socks[0] != "udp:127.0.0.1:2223=3" || m.Socks[1] != "udp6:[::1]:2225" || len(cfg.RTPEngineSocks) != 3 {
		t.Errorf("sockets %v", m.Socks)
	}
	if m.Matrix.Offer[1][0] != "RTP/AVP ICE=remove rtcp-mux-demux" || m.Timeout != 250*time.Millisecond || m.Retries != 2 {
		t.Errorf("media settings %+v", m)
	}
	if m.Matrix.Answer[1][0] == "" || cfg.Demo.Addr != "127.0.0.1:8444" {
		t.Errorf("defaults lost: answer %q, demo %+v", m.Matrix.Answer[1][0], cfg.Demo)
	}
	for _, bad := range [][]string{
		{"--listen=udp:127.0.0.1:5060", "--rtpengine-sock=tcp:127.0.0.1:2223"},
		{"--listen=udp:127.0.0.1:5060", "--rtpengine-sock=1 == udp:127.0.0.1:2223"},
		{"--listen=udp:127.0.0.1:5060", "--rtpengine-offer-udp-ws=in-iface=x"},
		{"--listen=udp:127.0.0.1:5060", "--rtpengine-timeout=0s"},
	} {
		if _, err := Parse(bad, io.Discard); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
