package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"log/syslog"
	"strings"
	"sync"

	"sipmedia/mediad/internal/loglevel"
)

// Syslog output, as rtpengine logs without -E: openlog("rtpengine",
// LOG_PID) with the --log-facility (default daemon), each line at the
// syslog severity of its level. mediad tags its lines "mediad".

// facilities are rtpengine's --log-facility names (glibc's
// facilitynames, less the deprecated "security" and "mark").
var facilities = []struct {
	name string
	f    syslog.Priority
}{
	{"auth", syslog.LOG_AUTH}, {"authpriv", syslog.LOG_AUTHPRIV}, {"cron", syslog.LOG_CRON},
	{"daemon", syslog.LOG_DAEMON}, {"ftp", syslog.LOG_FTP}, {"kern", syslog.LOG_KERN},
	{"lpr", syslog.LOG_LPR}, {"mail", syslog.LOG_MAIL}, {"news", syslog.LOG_NEWS},
	{"syslog", syslog.LOG_SYSLOG}, {"user", syslog.LOG_USER}, {"uucp", syslog.LOG_UUCP},
	{"local0", syslog.LOG_LOCAL0}, {"local1", syslog.LOG_LOCAL1}, {"local2", syslog.LOG_LOCAL2},
	{"local3", syslog.LOG_LOCAL3}, {"local4", syslog.LOG_LOCAL4}, {"local5", syslog.LOG_LOCAL5},
	{"local6", syslog.LOG_LOCAL6}, {"local7", syslog.LOG_LOCAL7},
}

// ParseFacility maps the facility name of the option named opt
// (log-facility and the like; "" is daemon). The error names the
// facilities there are, as rtpengine lists them.
func ParseFacility(name, opt string) (syslog.Priority, error) {
	if name == "" {
		return syslog.LOG_DAEMON, nil
	}
	names := make([]string, len(facilities))
	for k, f := range facilities {
		if f.name == name {
			return f.f, nil
		}
		names[k] = f.name
	}
	return 0, fmt.Errorf("invalid log facility '%s' (--%s); available facilities: %s", name, opt, strings.Join(names, " "))
}

// facilityWriter writes each Write as one syslog line at info in its
// facility, whatever -E says, as rtpengine's CDR, RTCP and DTMF logs do
// (syslog(LOG_INFO | facility)). The lines are queued and written by a
// goroutine of their own: a syslog daemon that stalls must not stall the
// packet path (RTCP and DTMF lines come from the relay's read loops); a
// full queue drops lines. It connects on first use and again after a
// failure, so that a syslog started after mediad gets the lines; while
// none listens they are dropped, as syslog(3) drops them. Write never
// fails (a DTMF line goes to --dtmf-log-dest all the same).
type facilityWriter struct {
	prio  syslog.Priority
	lines chan []byte
	done  chan struct{}
	once  sync.Once
}

// facilityQueue is how many lines wait for syslog at most.
const facilityQueue = 4096

// newFacilityWriter parses the facility of option opt and starts its
// writer; an empty name means the option is not set (nil writer).
func newFacilityWriter(name, opt string) (*facilityWriter, error) {
	if name == "" {
		return nil, nil
	}
	fac, err := ParseFacility(name, opt)
	if err != nil {
		return nil, err
	}
	f := &facilityWriter{prio: fac | syslog.LOG_INFO, lines: make(chan []byte, facilityQueue), done: make(chan struct{})}
	go f.run()
	return f, nil
}

func (f *facilityWriter) Write(p []byte) (int, error) {
	select {
	case f.lines <- bytes.Clone(p):
	default:
	}
	return len(p), nil
}

func (f *facilityWriter) run() {
	defer close(f.done)
	var w *syslog.Writer
	for line := range f.lines {
		if w == nil {
			var err error
			if w, err = syslog.New(f.prio, "mediad"); err != nil {
				continue
			}
		}
		if _, err := w.Write(line); err != nil {
			// syslog.Writer redials once itself; after a second
			// failure the next line dials again.
			w.Close()
			w = nil
		}
	}
	if w != nil {
		w.Close()
	}
}

// Close writes the lines queued and stops the writer.
func (f *facilityWriter) Close() error {
	f.once.Do(func() { close(f.lines) })
	<-f.done
	return nil
}

// syslogHandler formats records as the text handler does, without the
// time (syslog stamps its lines), and writes each at its severity.
type syslogHandler struct {
	w     *syslog.Writer
	max   int // --max-log-line-length
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler // writes into buf
}

func newSyslogHandler(w *syslog.Writer, opts *slog.HandlerOptions, max int) *syslogHandler {
	o := *opts
	prev := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if prev != nil {
			return prev(groups, a)
		}
		return a
	}
	h := &syslogHandler{w: w, max: max, mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	h.inner = slog.NewTextHandler(h.buf, &o)
	return h
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	write := h.w.Crit
	switch {
	case r.Level < slog.LevelInfo:
		write = h.w.Debug
	case r.Level < loglevel.Notice:
		write = h.w.Info
	case r.Level < slog.LevelWarn:
		write = h.w.Notice
	case r.Level < slog.LevelError:
		write = h.w.Warning
	case r.Level < slog.LevelError+4:
		write = h.w.Err
	}
	for _, piece := range breakLine(strings.TrimSuffix(h.buf.String(), "\n"), h.max) {
		if err := write(piece); err != nil {
			return err
		}
	}
	return nil
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{w: h.w, max: h.max, mu: h.mu, buf: h.buf, inner: h.inner.WithAttrs(as)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{w: h.w, max: h.max, mu: h.mu, buf: h.buf, inner: h.inner.WithGroup(name)}
}
