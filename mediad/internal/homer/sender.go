package homer

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// queueLen bounds the reports waiting to be sent (rtpengine's
// SEND_QUEUE_LIMIT is 200); more are dropped, and counted.
const queueLen = 200

// Sender delivers reports to the Homer server from its own goroutine:
// the packet path only renders and queues.
type Sender struct {
	addr      string
	tcp       bool
	captureID uint32
	log       *slog.Logger
	queue     chan []byte
	dropped   atomic.Uint64
}

// NewSender makes a sender to addr over "udp" (the default) or "tcp" with
// HEP capture ID id (rtpengine's --homer-id, 2001 by default). Run
// delivers.
func NewSender(addr, protocol string, id int, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{addr: addr, tcp: protocol == "tcp", captureID: uint32(id), log: log, queue: make(chan []byte, queueLen)}
}

// RTCP renders the RTCP packet pkt that src sent to the local address
// dst at now (unix nanoseconds) in call callID, and queues it.
func (s *Sender) RTCP(callID string, src, dst netip.AddrPort, pkt []byte, now int64) {
	js, ok := RTCPJSON(pkt)
	if !ok {
		return
	}
	select {
	case s.queue <- HEP3(s.captureID, callID, src, dst, time.Unix(0, now), js):
	default:
		if s.dropped.Add(1)%1000 == 1 {
			s.log.Error("Send queue length limit reached, dropping Homer message", "limit", queueLen, "dropped", s.dropped.Load())
		}
	}
}

// Run sends what is queued until ctx ends, connecting (again) when
// needed; a report that cannot be sent is dropped, as in rtpengine.
func (s *Sender) Run(ctx context.Context) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var retry time.Time
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case msg = <-s.queue:
		}
		if conn == nil {
			if time.Now().Before(retry) {
				continue
			}
			proto := "udp"
			if s.tcp {
				proto = "tcp"
			}
			d := net.Dialer{Timeout: 5 * time.Second}
			c, err := d.DialContext(ctx, proto, s.addr)
			if err != nil {
				s.log.Error("Failed to connect to Homer", "addr", s.addr, "err", err)
				retry = time.Now().Add(30 * time.Second)
				continue
			}
			conn = c
		}
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(msg); err != nil {
			s.log.Error("Failed to send to Homer", "addr", s.addr, "err", err)
			conn.Close()
			conn = nil
		}
	}
}

// Reporter is a call's view of the sender: the relay's RTCP hook.
type Reporter struct {
	S      *Sender
	CallID string
}

// RTCP implements relay.RTCPReporter.
func (r *Reporter) RTCP(src, dst netip.AddrPort, pkt []byte, now int64) {
	r.S.RTCP(r.CallID, src, dst, pkt, now)
}
