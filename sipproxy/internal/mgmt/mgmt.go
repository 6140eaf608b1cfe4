// Package mgmt owns the management interface: a small HTTP API bound to
// loopback (list and remove registrations, counters) and the matching
// `sipproxy ctl` client.
package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"sipmedia/sipproxy/internal/registrar"
)

// Registration is one binding as the API shows it.
type Registration struct {
	AOR       string  `json:"aor"`
	Contact   string  `json:"contact"`
	Received  string  `json:"received"`
	Socket    string  `json:"socket"`
	Expires   int     `json:"expires"`
	Q         float64 `json:"q"`
	DstWS     bool    `json:"dst_ws"`
	CallID    string  `json:"callid"`
	CSeq      uint32  `json:"cseq"`
	UserAgent string  `json:"user_agent,omitempty"`
}

// Server serves the API.
type Server struct {
	Registrar *registrar.Registrar
	Counters  func() map[string]int64
	srv       *http.Server
	ln        net.Listener
}

// Listen binds addr, which must be a loopback address.
func (s *Server) Listen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("mgmt address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("mgmt address %q is not loopback", addr)
	}
	s.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mgmt listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /registrations", s.list)
	mux.HandleFunc("DELETE /registrations", s.remove)
	mux.HandleFunc("GET /counters", s.counters)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve runs until Close.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	bs, err := s.Registrar.Store.All(r.Context(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := []Registration{}
	for _, b := range bs {
		out = append(out, Registration{AOR: b.AOR, Contact: b.Contact, Received: b.Received, Socket: b.Socket,
			Expires: s.Registrar.Remaining(b), Q: b.Q, DstWS: b.DstWS, CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent})
	}
	writeJSON(w, out)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	aor := r.URL.Query().Get("aor")
	if aor == "" {
		http.Error(w, "aor required", http.StatusBadRequest)
		return
	}
	n, err := s.Registrar.Store.Delete(r.Context(), aor, r.URL.Query().Get("contact"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]int{"removed": n})
}

func (s *Server) counters(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.Counters())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Ctl runs one `sipproxy ctl` command against the API at addr and writes
// the JSON answer to out. Commands: list, remove AOR [CONTACT], counters.
func Ctl(ctx context.Context, addr string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("ctl: want list | remove AOR [CONTACT] | counters")
	}
	base := "http://" + addr
	var req *http.Request
	var err error
	switch args[0] {
	case "list":
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/registrations", nil)
	case "counters":
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/counters", nil)
	case "remove":
		if len(args) < 2 {
			return errors.New("ctl remove: AOR required")
		}
		q := url.Values{"aor": {args[1]}}
		if len(args) > 2 {
			q.Set("contact", args[2])
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, base+"/registrations?"+q.Encode(), nil)
	default:
		return fmt.Errorf("ctl: unknown command %q", args[0])
	}
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("ctl: %s: %s", resp.Status, b)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
