package daemon

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"sipmedia/mediad/internal/cli"
	"sipmedia/ngproto"
)

// maxHTTPBody bounds an NG request body over HTTP.
const maxHTTPBody = 1 << 20

// httpHandler serves rtpengine's HTTP paths (--listen-http):
// GET /ping, GET /cli/<command>, POST /ng (application/x-rtpengine-ng).
func httpHandler(ng *ngproto.Server, runner *cli.Runner, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Debug("HTTP request", "method", r.Method, "uri", r.URL.RequestURI(), "from", r.RemoteAddr)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/ping":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "pong\n")
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cli/"):
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, runner.Run(r.Context(), strings.TrimPrefix(r.URL.Path, "/cli/")))
		case r.Method == http.MethodPost && r.URL.Path == "/ng" &&
			strings.EqualFold(r.Header.Get("Content-Type"), "application/x-rtpengine-ng"):
			body, err := io.ReadAll(io.LimitReader(r.Body, maxHTTPBody))
			if err != nil {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			from, _ := netip.ParseAddrPort(r.RemoteAddr)
			reply := ng.Process(r.Context(), body, from)
			if reply == nil {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/x-rtpengine-ng")
			_, _ = w.Write(reply)
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "not found\n")
		}
	})
}
