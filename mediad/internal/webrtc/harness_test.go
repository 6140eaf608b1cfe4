package webrtc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/ngproto/testport"
)

// bridge is a minimal stand-in for the relay: socket sec faces the secure
// peer through a webrtc.Endpoint, socket plain faces a plain RTP endpoint.
type bridge struct {
	sec, plain *net.UDPConn
	phone      *net.UDPConn // the plain RTP endpoint
	plainPeer  netip.AddrPort
	ep         *webrtc.Endpoint
	wg         sync.WaitGroup
}

func newBridge(t *testing.T) *bridge {
	b := &bridge{sec: listenUDP(t), plain: listenUDP(t), phone: listenUDP(t)}
	b.plainPeer = addrOf(b.phone)
	return b
}

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	return testport.UDP(t)
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// run starts both read loops; they end when the sockets are closed.
func (b *bridge) run() {
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := b.sec.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			out, fwd := b.ep.Inbound(buf, n, from)
			if fwd {
				_, _ = b.plain.WriteToUDPAddrPort(out, b.plainPeer)
			}
		}
	}()
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 1500)
		enc := make([]byte, 1500+webrtc.MaxOverhead)
		for {
			n, _, err := b.plain.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			to, ok := b.ep.Peer()
			if !ok {
				continue
			}
			out, err := b.ep.Outbound(enc[:0], buf[:n])
			if err != nil {
				continue
			}
			_, _ = b.sec.WriteToUDPAddrPort(out, to)
		}
	}()
}

func (b *bridge) close() {
	b.ep.Close()
	b.sec.Close()
	b.plain.Close()
	b.phone.Close()
	b.wg.Wait()
}

func rtpPacket(t testing.TB, seq uint16, ssrc uint32, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readRTP reads until an RTP packet with the wanted payload arrives on c.
func readRTP(ctx context.Context, c *net.UDPConn, want []byte) error {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil && bytes.Equal(p.Payload, want) {
			return nil
		}
	}
	return fmt.Errorf("no RTP with payload %q: %w", want, ctx.Err())
}

// checkGoroutines fails if goroutines started by the test outlive it.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines leaked: %d > %d\n%s", n, before, firstLines(string(buf), 60))
		}
	})
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
