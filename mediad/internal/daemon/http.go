package daemon

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"sipmedia/mediad/internal/cli"
	"sipmedia/ngproto"
)

// maxHTTPBody bounds a request body (NG message or CLI command).
const maxHTTPBody = 1 << 20

// Content types rtpengine accepts on POST.
const (
	ctNG   = "application/x-rtpengine-ng"
	ctJSON = "application/json"
	ctText = "text/plain"
)

// httpHandler serves rtpengine's HTTP paths (--listen-http and
// --listen-https): GET /ping, GET /cli/<command> ("+" for spaces), GET
// /metrics, POST /cli (text/plain command), POST /ng (cookie-framed NG)
// and POST /ng-plain (NG body without cookie, bencode or JSON); and its
// WebSocket subprotocols on any path (ws.go). metrics may be nil (404
// then).
func httpHandler(ng *ngproto.Server, runner *cli.Runner, metrics http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Debug("HTTP request", "method", r.Method, "uri", r.URL.RequestURI(), "from", r.RemoteAddr)
		if isWebSocket(r) {
			serveWebSocket(w, r, ng, runner, log)
			return
		}
		path := r.URL.Path
		switch r.Method {
		case http.MethodGet:
			switch {
			case path == "/ping":
				writeText(w, "pong\n")
				return
			case strings.HasPrefix(path, "/cli/"):
				if cmd, ok := cliFromPath(r.URL.EscapedPath()); ok {
					writeText(w, runner.Run(r.Context(), cmd))
					return
				}
			case path == "/metrics" && metrics != nil:
				metrics.ServeHTTP(w, r)
				return
			}
		case http.MethodPost:
			ct := mediaType(r.Header.Get("Content-Type"))
			switch {
			case path == "/cli" && ct == ctText:
				if body, ok := readBody(w, r); ok {
					writeText(w, runner.Run(r.Context(), strings.TrimSpace(string(body))))
				}
				return
			case path == "/ng" && ct == ctNG:
				serveNG(w, r, ng.Process)
				return
			case path == "/ng-plain" && (ct == ctNG || ct == ctJSON):
				serveNG(w, r, ng.ProcessPlain)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "not found\n")
	})
}

// cliFromPath returns the command of an escaped /cli/<command> path: "+"
// stands for a space, %2B for a plus sign.
func cliFromPath(escaped string) (string, bool) {
	cmd, err := url.PathUnescape(strings.ReplaceAll(strings.TrimPrefix(escaped, "/cli/"), "+", " "))
	return cmd, err == nil
}

// serveNG answers an NG request with process (Server.Process or
// ProcessPlain); rtpengine replies as application/x-rtpengine-ng either way.
func serveNG(w http.ResponseWriter, r *http.Request, process func(ctx context.Context, body []byte, from netip.AddrPort) []byte) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	from, _ := netip.ParseAddrPort(r.RemoteAddr)
	reply := process(r.Context(), body, from)
	if reply == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", ctNG)
	_, _ = w.Write(reply)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHTTPBody))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// mediaType is the lower-cased type of a Content-Type value without
// parameters ("" if malformed).
func mediaType(v string) string {
	t, _, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return t
}

func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", ctText)
	_, _ = io.WriteString(w, s)
}
