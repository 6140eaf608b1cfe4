package demo

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sipmedia/sipproxy/internal/certs"
)

func TestServe(t *testing.T) {
	js := filepath.Join(t.TempDir(), "jssip.min.js")
	if err := os.WriteFile(js, []byte("var JsSIP={};"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := certs.Load("", "", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Settings{Addr: "127.0.0.1:0", JsSIP: js}, src.Config(), Page{WS: "wss://127.0.0.1:8443", Domain: "example.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	defer cl.CloseIdleConnections()
	get := func(path string) (int, string) {
		r, err := cl.Get("https://" + s.Addr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "JsSIP.UA") {
		t.Fatalf("index: %d %.80q", code, body)
	}
	if code, body := get("/jssip.min.js"); code != 200 || body != "var JsSIP={};" {
		t.Fatalf("bundle: %d %q", code, body)
	}
	code, body := get("/config.json")
	var p Page
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil || p.WS != "wss://127.0.0.1:8443" || p.Domain != "example.test" {
		t.Fatalf("config: %d %q", code, body)
	}
	if code, _ := get("/nothing"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}
