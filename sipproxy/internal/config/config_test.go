package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sipproxy.cfg")
	os.WriteFile(file, []byte("# comment\nlisten=udp:127.0.0.1:5070\nfr_inv_timeout=10s\ndomain=file.example\noverload-wait=1s\n"), 0o644)
	cfg, err := Parse([]string{"--config=" + file, "--listen=wss:127.0.0.1:8443", "--rtpengine-sock=udp:127.0.0.1:22222",
		"--rtpengine-sock=udp:127.0.0.1:22223"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listen) != 1 || cfg.Listen[0].Proto != "wss" || cfg.Listen[0].Port != 8443 {
		t.Errorf("command line must win for listen: %+v", cfg.Listen)
	}
	if cfg.FrInvTimeout != 10*time.Second || cfg.FrTimeout != 5*time.Second {
		t.Errorf("timeouts %v %v", cfg.FrTimeout, cfg.FrInvTimeout)
	}
	if cfg.OverloadWait != time.Second {
		t.Errorf("overload-wait from the file: %v", cfg.OverloadWait)
	}
	if cfg.GCPercent != 400 {
		t.Errorf("default gc-percent %d", cfg.GCPercent)
	}
	if len(cfg.Domains) != 1 || len(cfg.RTPEngineSocks) != 2 {
		t.Errorf("domains %v rtpengine %v", cfg.Domains, cfg.RTPEngineSocks)
	}
	for _, bad := range [][]string{
		{},
		{"--listen=sctp:127.0.0.1:5060"},
		{"--listen=udp:nohost:5060"},
		{"--listen=udp:127.0.0.1:5060", "--tls-certificate=x"},
		{"--listen=udp:127.0.0.1:5060", "--config=/nonexistent"},
		{"--listen=udp:127.0.0.1:5060", "--gc-percent=0"},
		{"--listen=udp:127.0.0.1:5060", "--overload-wait=-1s"},
	} {
		if _, err := Parse(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	os.WriteFile(file, []byte("bogus=1\n"), 0o644)
	if _, err := Parse([]string{"--config=" + file, "--listen=udp:127.0.0.1:1"}, io.Discard); err == nil {
		t.Error("unknown config key accepted")
	}
}
