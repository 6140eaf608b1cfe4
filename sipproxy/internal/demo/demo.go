// Package demo serves the demo softphone: a small JsSIP page over HTTPS
// (the JsSIP browser bundle is built from npm by `make run` and read from
// a file) so that a person can register a browser at sipproxy's WSS
// listener and call. It knows nothing of SIP; the page talks to the WSS
// listener like any browser phone.
package demo

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

//go:embed page/index.html
var indexHTML []byte

// Settings are the demo's configuration keys.
type Settings struct {
	Addr  string // HTTPS listen address; empty: no demo
	JsSIP string // path of the JsSIP browser bundle
}

// DefaultSettings: off; the bundle where `make run` builds it.
func DefaultSettings() Settings { return Settings{JsSIP: "bin/jssip.min.js"} }

// AddFlags registers the demo keys on fs.
func AddFlags(fs *flag.FlagSet, st *Settings) {
	fs.StringVar(&st.Addr, "http-demo", st.Addr, "serve the demo softphone over HTTPS on this address (empty: off)")
	fs.StringVar(&st.JsSIP, "http-demo-jssip", st.JsSIP, "JsSIP browser bundle the demo page loads")
}

// Page is what the page is told: where to register and its domain.
type Page struct {
	WS     string `json:"ws"`     // wss://host:port of the proxy
	Domain string `json:"domain"` // AOR domain
}

// Server is a running demo server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Start listens on st.Addr with tlsConf and serves the page until Close.
func Start(st Settings, tlsConf *tls.Config, page Page, log *slog.Logger) (*Server, error) {
	cfg, err := json.Marshal(page)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(cfg)
	})
	mux.HandleFunc("/jssip.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, st.JsSIP)
	})
	ln, err := net.Listen("tcp", st.Addr)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, TLSConfig: tlsConf.Clone(), ReadHeaderTimeout: 10 * time.Second,
			// Mostly clients leaving a TLS handshake (see transport).
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("demo server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
