package ngproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// NG over TCP (rtpengine's --listen-tcp-ng): a stream of "<cookie>
// <bencode dictionary>" messages, each ending where its dictionary ends,
// answered in order with "<cookie> <reply>" on the same connection.
// JSON is not framed this way, as in rtpengine.

// ErrStreamMessage is a connection's buffered input that holds no
// complete message within MaxMessageSize bytes.
var ErrStreamMessage = errors.New("ngproto: no complete NG message within the size limit")

// streamIdle closes a TCP control connection silent this long.
const streamIdle = 10 * time.Minute

// StreamMessageLen returns the length of the first complete message at
// the start of b, or 0 if b does not hold one (yet).
func StreamMessageLen(b []byte) int {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp+1 >= len(b) {
		return 0
	}
	end, open, _, err := scanBencode(b[sp+1:])
	if err != nil || open > 0 || end == 0 {
		return 0
	}
	return sp + 1 + end
}

// ServeTCP accepts control connections on ln until ctx ends or ln fails,
// and serves each (ServeStream). It closes ln and waits for the
// connections when it returns.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ngproto: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeStream(ctx, c)
		}()
	}
}

// ServeStream serves one control connection until it closes, ctx ends,
// it stays silent for 10 minutes, or it sends more than MaxMessageSize
// bytes that are no complete message (then it is closed, as rtpengine
// closes it). Requests are handled one after the other, so replies leave
// in order.
func (s *Server) ServeStream(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	from := netip.AddrPort{}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		from = a.AddrPort()
	}
	log := s.logger()
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 16384)
	for {
		for {
			n := StreamMessageLen(buf)
			if n == 0 {
				break
			}
			if reply := s.Process(ctx, buf[:n], from); reply != nil {
				if _, err := c.Write(reply); err != nil {
					log.Debug("NG over TCP: write", "from", from, "err", err)
					return
				}
			}
			buf = buf[:copy(buf, buf[n:])]
		}
		if len(buf) > MaxMessageSize {
			log.Warn("NG over TCP: closing", "from", from, "err", ErrStreamMessage)
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(streamIdle))
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				log.Debug("NG over TCP: read", "from", from, "err", err)
			}
			return
		}
	}
}
