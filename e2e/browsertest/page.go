package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RunPage opens url in headless Chromium through web/run-page.mjs, waits
// up to timeout for the page to set window.__result and decodes it into
// res. A failure of run-page.mjs or a result with a non-empty "error" is
// an error that carries run-page.mjs's stderr (the page's console).
func RunPage(ctx context.Context, web, url string, timeout time.Duration, res any) error {
	return DrivePage(ctx, web, url, "", timeout, res)
}

// DrivePage is RunPage with driver (a module in web, "" for none) working
// the page, which is not made for tests, until it sets the result.
func DrivePage(ctx context.Context, web, url, driver string, timeout time.Duration, res any) error {
	web, err := filepath.Abs(web) // the script's path must hold in cmd.Dir too
	if err != nil {
		return fmt.Errorf("run-page: %w", err)
	}
	args := []string{filepath.Join(web, "run-page.mjs"), url, strconv.FormatInt(timeout.Milliseconds(), 10)}
	if driver != "" {
		args = append(args, filepath.Join(web, driver))
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = web
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("run-page: %w\n%s", err, stderr.String())
	}
	var failed struct{ Error string }
	if err := json.Unmarshal(out, &failed); err != nil {
		return fmt.Errorf("page result %q: %w\n%s", out, err, stderr.String())
	}
	if failed.Error != "" {
		return fmt.Errorf("page error: %s\n%s", failed.Error, stderr.String())
	}
	if err := json.Unmarshal(out, res); err != nil {
		return fmt.Errorf("page result %q: %w\n%s", out, err, stderr.String())
	}
	return nil
}

// Serve serves page at "/" and mux's other routes on a loopback port until
// the test ends, and returns the page's URL (http://localhost:port/: a
// secure context for getUserMedia).
func Serve(t testing.TB, page string, mux *http.ServeMux) string {
	t.Helper()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, page) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
}

// Result is what web/audio.html reports: its audio packet counts from
// getStats and the final ICE and connection states.
type Result struct {
	Inbound, Outbound int
	ICE, State        string
	// Reoffered: the page's re-offer was answered and applied;
	// InboundAfter is the inbound count it then reached.
	Reoffered    bool
	InboundAfter int
	// After the ICE restart (Signalling.ICERestart): the answer brought
	// new ICE credentials (NewRemoteUfrag), Chromium selected a candidate
	// pair that many times since (PairChanges), and the inbound count it
	// then reached.
	NewRemoteUfrag      bool
	PairChanges         int
	InboundAfterRestart int
}

// Signalling is the test's side of web/audio.html's exchange. The page
// offers (POST /offer gets Offer's answer) or, when it answers, takes
// RemoteOffer's SDP (GET /remote-offer) and posts its answer to Answer.
// An error turns into an HTTP error the page reports.
type Signalling struct {
	Offer       func(offer string) (answer string, err error)
	RemoteOffer func() (offer string, err error)
	Answer      func(answer string) error
	// Reoffer, if set, makes the page renegotiate once media flows
	// (POST /reoffer gets Reoffer's answer).
	Reoffer func(offer string) (answer string, err error)
	// ICERestart makes the page re-offer once more after Reoffer, with
	// an ICE restart (new ICE credentials), through Reoffer too.
	ICERestart bool
}

// offerHandler answers a POSTed offer of the page with answer's SDP; an
// error is logged and becomes an HTTP error the page reports.
func offerHandler(t testing.TB, what string, answer func(offer string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sdp, err := answer(string(body))
		if err != nil {
			t.Logf("the browser's %s failed: %v\noffer:\n%s", what, err, body)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, sdp)
	}
}

// AudioCall runs one call of web/audio.html against sig, the page offering
// or (pageAnswers) answering, and returns the page's result; it fails t if
// the page or its driver fails.
func AudioCall(ctx context.Context, t testing.TB, web string, sig Signalling, pageAnswers bool, timeout time.Duration) Result {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/offer", offerHandler(t, "offer", sig.Offer))
	mux.HandleFunc("/remote-offer", func(w http.ResponseWriter, r *http.Request) {
		offer, err := sig.RemoteOffer()
		if err != nil {
			t.Logf("the offer to the browser failed: %v", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, offer)
	})
	mux.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := sig.Answer(string(body)); err != nil {
			t.Logf("the browser's answer failed: %v\nanswer:\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	mux.HandleFunc("/reoffer", offerHandler(t, "re-offer", sig.Reoffer))
	url := Serve(t, filepath.Join(web, "audio.html"), mux)
	q := []string{}
	if pageAnswers {
		q = append(q, "mode=answer")
	}
	if sig.Reoffer != nil {
		q = append(q, "reoffer=1")
		if sig.ICERestart {
			q = append(q, "icerestart=1")
		}
	}
	if len(q) > 0 {
		url += "?" + strings.Join(q, "&")
	}
	var res Result
	if err := RunPage(ctx, web, url, timeout, &res); err != nil {
		t.Fatal(err)
	}
	return res
}
