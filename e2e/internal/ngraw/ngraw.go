// Package ngraw exchanges raw NG datagrams with one daemon: the request is
// sent byte for byte as given (so tests can send malformed framing and
// bodies that no client library would produce) and the reply is matched by
// cookie. It is for sequential test traffic, not for load.
package ngraw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNoReply is returned when nothing with the cookie arrived in time.
var ErrNoReply = errors.New("no reply")

// Conn is a UDP socket connected to one NG listener.
type Conn struct {
	// Resend, when positive, repeats the datagram (same cookie, as NG
	// clients do) at this interval until the reply or the timeout, so a
	// datagram lost on a loaded machine does not read as "no reply".
	Resend time.Duration

	c   *net.UDPConn
	buf []byte
}

// Dial connects to the NG listener at addr.
func Dial(addr string) (*Conn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("ngraw: resolve %s: %w", addr, err)
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, fmt.Errorf("ngraw: dial %s: %w", addr, err)
	}
	return &Conn{c: c, buf: make([]byte, 1<<16)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Exchange sends datagram and returns the body of the first reply that
// starts with "<cookie> " (stale replies to earlier requests are skipped).
// With an empty cookie it waits for any datagram. It returns ErrNoReply
// after timeout.
func (c *Conn) Exchange(ctx context.Context, cookie string, datagram []byte, timeout time.Duration) ([]byte, error) {
	if _, err := c.c.Write(datagram); err != nil {
		return nil, fmt.Errorf("ngraw: send: %w", err)
	}
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	prefix := []byte(cookie + " ")
	for {
		next := dl
		if c.Resend > 0 && cookie != "" {
			if r := time.Now().Add(c.Resend); r.Before(dl) {
				next = r
			}
		}
		if err := c.c.SetReadDeadline(next); err != nil {
			return nil, fmt.Errorf("ngraw: deadline: %w", err)
		}
		n, err := c.c.Read(c.buf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return nil, fmt.Errorf("ngraw: read: %w", err)
			}
			if !next.Before(dl) {
				return nil, ErrNoReply
			}
			if _, err := c.c.Write(datagram); err != nil {
				return nil, fmt.Errorf("ngraw: resend: %w", err)
			}
			continue
		}
		if cookie == "" {
			return append([]byte(nil), c.buf[:n]...), nil
		}
		if bytes.HasPrefix(c.buf[:n], prefix) {
			return append([]byte(nil), c.buf[len(prefix):n]...), nil
		}
	}
}
