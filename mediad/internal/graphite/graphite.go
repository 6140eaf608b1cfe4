// Package graphite sends mediad's statistics to a Graphite server
// (--graphite), as rtpengine's graphite.c does: over TCP, every interval,
// one "PREFIXname value timestamp" line per metric in Graphite's plaintext
// protocol, reconnecting at the next interval after a failure. What the
// lines say is the Source's (package control); this package owns the
// connection and the clock.
package graphite

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Line is one metric of a report.
type Line struct {
	Name, Value string
}

// Source produces the reports.
type Source interface {
	// Tick samples what is reported per second (request rates, the
	// session count); called once a second.
	Tick(now time.Time)
	// Report returns the metrics of the interval that ends at now and
	// starts the next one.
	Report(now time.Time) []Line
}

// Sender is a Graphite client.
type Sender struct {
	Addr     string        // host:port
	Interval time.Duration // between reports, whole seconds (rtpengine: --graphite-interval, 1 s if unset)
	Prefix   string        // prepended to every name, as given (rtpengine adds no dot)
	// Timeout bounds connecting and each write (--graphite-timeout; 0:
	// 10 s for the connection, none for writes beyond the interval).
	Timeout time.Duration
	Source  Source
	Log     *slog.Logger

	conn net.Conn
}

// Run sends a report every Interval until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = time.Second
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// Reports go every so many ticks: comparing tick times with a
	// deadline skipped one now and then, the ticks jittering around it.
	every := max(int(s.Interval/time.Second), 1)
	s.connect(ctx)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.Source.Tick(now)
			if n%every != 0 {
				continue
			}
			if s.conn == nil && !s.connect(ctx) {
				continue
			}
			// The interval's values are taken only when they can be sent,
			// as rtpengine does: an unreachable server's intervals merge
			// into the next one sent.
			if err := s.send(s.Source.Report(now), now); err != nil {
				s.Log.Error("Could not write to graphite socket, disconnecting graphite server", "addr", s.Addr, "err", err)
				s.conn.Close()
				s.conn = nil
			}
		}
	}
}

func (s *Sender) connect(ctx context.Context) bool {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		s.Log.Error("Couldn't connect to graphite server", "addr", s.Addr, "err", err)
		return false
	}
	s.Log.Info("Graphite server connected", "addr", s.Addr)
	s.conn = c
	return true
}

// Format renders a report in Graphite's plaintext protocol.
func Format(prefix string, lines []Line, now time.Time) []byte {
	ts := strconv.FormatInt(now.Unix(), 10)
	var b []byte
	for _, l := range lines {
		b = append(b, prefix...)
		b = append(b, l.Name...)
		b = append(b, ' ')
		b = append(b, l.Value...)
		b = append(b, ' ')
		b = append(b, ts...)
		b = append(b, '\n')
	}
	return b
}

func (s *Sender) send(lines []Line, now time.Time) error {
	deadline := s.Interval
	if s.Timeout > 0 {
		deadline = s.Timeout
	}
	_ = s.conn.SetWriteDeadline(now.Add(deadline))
	if _, err := s.conn.Write(Format(s.Prefix, lines, now)); err != nil {
		return fmt.Errorf("graphite: %w", err)
	}
	return nil
}
