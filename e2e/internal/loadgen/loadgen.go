// Package loadgen plays the phones of a relay benchmark: a few UDP sockets
// on loopback that send paced RTP to many destinations with sendmmsg and
// count what comes back with recvmmsg, without allocating per packet, so
// that the load generator costs little next to the relay it measures.
// Linux only.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Socket is one phone socket: it sends the flows assigned to it and counts
// every datagram it receives.
type Socket struct {
	conn *net.UDPConn
	rc   interface {
		Read(func(uintptr) bool) error
		Write(func(uintptr) bool) error
	}
	addr netip.AddrPort
	rx   atomic.Uint64
	rxB  atomic.Uint64
}

// Listen opens a socket on addr (port 0: any) with large buffers (forced
// when running as root) so bursts are not lost in the load generator.
func Listen(addr netip.Addr) (*Socket, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		return nil, fmt.Errorf("loadgen: listen: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	_ = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], 8<<20) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], 8<<20) // not root: capped
			}
		}
	})
	return &Socket{conn: c, rc: rc, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

// Addr is the socket's local address.
func (s *Socket) Addr() netip.AddrPort { return s.addr }

// Received returns the number of datagrams and bytes received so far.
func (s *Socket) Received() (packets, bytes uint64) { return s.rx.Load(), s.rxB.Load() }

// Close closes the socket; a running Receive returns.
func (s *Socket) Close() error { return s.conn.Close() }

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

const batch = 64

// receiver drains sockets without blocking in them.
type receiver struct {
	msgs [batch]mmsghdr
	iovs [batch]unix.Iovec
	bufs [batch][2048]byte
}

func newReceiver() *receiver {
	r := &receiver{}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.Iovlen = 1
	}
	return r
}

// drain reads everything queued on s.
func (r *receiver) drain(s *Socket) {
	_ = s.rc.Read(func(fd uintptr) bool {
		for {
			n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
			if e != 0 {
				return true // EAGAIN: drained (never wait in the poller)
			}
			var b uint64
			for i := range int(n) {
				b += uint64(r.msgs[i].n)
			}
			s.rx.Add(uint64(n))
			s.rxB.Add(b)
		}
	})
}

// ReceiveAll counts what arrives on socks until ctx ends, polling them
// every millisecond instead of sleeping in each socket: a sender then never
// has to wake a receiver thread, which on loopback would be charged to the
// relay's sendto (a real phone is on another machine). Wait on the returned
// group after cancelling; it does a last drain before returning.
func ReceiveAll(ctx context.Context, socks []*Socket) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := newReceiver()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			for _, s := range socks {
				r.drain(s)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return &wg
}

// Flow is one RTP stream: sent from Socket to Dst.
type Flow struct {
	Socket *Socket
	Dst    netip.AddrPort
}

// Pacer sends every flow's packets at a fixed rate, flows spread evenly
// over the packet interval (1 ms slots) so the load is smooth.
type Pacer struct {
	PPS  int // per flow, default 50
	Size int // datagram size, default 172 (G.711 20 ms)

	sent   atomic.Uint64
	errors atomic.Uint64
}

// Sent returns the number of datagrams handed to the kernel, and failures.
func (p *Pacer) Sent() (packets, errs uint64) { return p.sent.Load(), p.errors.Load() }

// slotBatch is one sendmmsg call's worth of flows on one socket.
type slotBatch struct {
	s     *Socket
	msgs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	pkts  [][]byte
}

// Run sends until ctx ends.
func (p *Pacer) Run(ctx context.Context, flows []Flow) error {
	if len(flows) == 0 {
		return ErrNoFlows
	}
	pps, size := p.PPS, p.Size
	if pps <= 0 {
		pps = 50
	}
	if size < 12 {
		size = 172
	}
	interval := time.Second / time.Duration(pps)
	slots := int(interval / time.Millisecond)
	if slots < 1 {
		slots = 1
	}
	// Build, per slot, one batch per socket with the flows of that slot.
	plan := make([][]*slotBatch, slots)
	for i, f := range flows {
		sl := i % slots
		var b *slotBatch
		for _, x := range plan[sl] {
			if x.s == f.Socket {
				b = x
			}
		}
		if b == nil {
			b = &slotBatch{s: f.Socket}
			plan[sl] = append(plan[sl], b)
		}
		pkt := make([]byte, size)
		pkt[0], pkt[1] = 0x80, 0 // RTP v2, PCMU
		ssrc := uint32(0x10000 + i)
		pkt[8], pkt[9], pkt[10], pkt[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
		var name unix.RawSockaddrInet6
		if f.Dst.Addr().Is4() {
			sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&name))
			sa.Family = unix.AF_INET
			sa.Port = htons(f.Dst.Port())
			sa.Addr = f.Dst.Addr().As4()
		} else {
			name.Family = unix.AF_INET6
			name.Port = htons(f.Dst.Port())
			name.Addr = f.Dst.Addr().As16()
		}
		b.names = append(b.names, name)
		b.pkts = append(b.pkts, pkt)
	}
	for _, sl := range plan {
		for _, b := range sl {
			b.msgs = make([]mmsghdr, len(b.pkts))
			b.iovs = make([]unix.Iovec, len(b.pkts))
			for i := range b.pkts {
				b.iovs[i].Base = &b.pkts[i][0]
				b.iovs[i].SetLen(len(b.pkts[i]))
				b.msgs[i].hdr.Iov = &b.iovs[i]
				b.msgs[i].hdr.Iovlen = 1
				b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
				if b.names[i].Family == unix.AF_INET {
					b.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
				} else {
					b.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
				}
			}
		}
	}

	start := time.Now()
	tick := time.Millisecond
	if interval < tick {
		tick = interval
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var seq uint16
	n := 0 // slots sent so far
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			// Catch up on every slot that is due, so a late tick does not
			// lower the rate.
			due := int(now.Sub(start) / tick)
			for ; n <= due; n++ {
				sl := n % slots
				if sl == 0 {
					seq++
				}
				for _, b := range plan[sl] {
					p.sendBatch(b, seq)
				}
			}
		}
	}
}

func (p *Pacer) sendBatch(b *slotBatch, seq uint16) {
	for _, pkt := range b.pkts {
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		ts := uint32(seq) * 160
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	}
	off := 0
	for off < len(b.msgs) {
		end := min(off+batch, len(b.msgs))
		var sent int
		var errno unix.Errno
		err := b.s.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[off])), uintptr(end-off), unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN {
				return false
			}
			sent, errno = int(r), e
			return true
		})
		if err != nil || errno != 0 {
			// Skip the datagram that failed (e.g. ECONNREFUSED from an
			// earlier ICMP), count it, and go on with the rest.
			p.errors.Add(1)
			off++
			continue
		}
		p.sent.Add(uint64(sent))
		off += sent
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ErrNoFlows is returned when there is nothing to send.
var ErrNoFlows = errors.New("loadgen: no flows")
