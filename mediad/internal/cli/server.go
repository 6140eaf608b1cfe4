package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// MaxLine is the most a client may send without a newline (rtpengine's
// MAXINPUT); beyond it the connection is dropped.
const MaxLine = 1024

// readTimeout bounds how long a connection may sit without sending its
// line, so idle clients cannot pin goroutines.
const readTimeout = 10 * time.Second

// Server serves the CLI port: one command line per TCP connection, the
// plain-text answer, then the connection is closed.
type Server struct {
	Runner *Runner
	Logger *slog.Logger
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// any connection still open and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("cli: accept: %w", err)
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, c, log)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn, log *slog.Logger) {
	defer c.Close()
	log.Info("New cli connection", "from", c.RemoteAddr().String())
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	line, err := readLine(c)
	if err != nil {
		log.Info("CLI connection dropped", "from", c.RemoteAddr().String(), "err", err)
		return
	}
	out := s.Runner.Run(ctx, line)
	_ = c.SetWriteDeadline(time.Now().Add(readTimeout))
	if _, err := io.WriteString(c, out); err != nil {
		log.Info("CLI write failed", "from", c.RemoteAddr().String(), "err", err)
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite() // the client reads until EOF
	}
}

// readLine reads the first non-blank line (without "\n" or "\r\n"). At EOF
// the pending text counts as the line, as in rtpengine's streambuf.
func readLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, MaxLine+1)
	for {
		b, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			if line == "" {
				continue // blank line, skipped
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			return "", fmt.Errorf("line longer than %d bytes", MaxLine)
		case errors.Is(err, io.EOF) && len(b) > 0:
			if len(b) > MaxLine {
				return "", fmt.Errorf("line longer than %d bytes", MaxLine)
			}
			return strings.TrimSuffix(string(b), "\r"), nil
		default:
			return "", err
		}
	}
}

// Query sends one command to a CLI port and returns the answer, as
// rtpengine-ctl does (used by `mediad ctl`).
func Query(ctx context.Context, addr, command string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("cli: connect %s: %w", addr, err)
	}
	defer c.Close()
	deadline := time.Now().Add(3 * time.Second) // rtpengine-ctl's socket timeouts
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", fmt.Errorf("cli: send: %w", err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return string(out), fmt.Errorf("cli: read: %w", err)
	}
	return string(out), nil
}
