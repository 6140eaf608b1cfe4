package phone

import (
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// RTP is a plain RTP endpoint on one UDP socket: it sends a PCMU packet
// every 20 ms to its peer and counts the packets it receives by SSRC.
type RTP struct {
	conn *net.UDPConn
	SSRC uint32

	mu   sync.Mutex
	peer netip.AddrPort
	recv map[uint32]int
	byPT [128]int // packets received by payload type
	// events: the first payload byte of packets with a dynamic payload
	// type, by type (for telephone-event, RFC 4733, the event: 0-9 the
	// digits, 10 *, 11 #).
	events map[uint8]map[uint8]bool
	sent   int
	from   netip.AddrPort // source of the last packet received
	stop   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

func newRTP(ip string) (*RTP, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return nil, err
	}
	r := &RTP{conn: c, SSRC: rand.Uint32(), recv: map[uint32]int{}, events: map[uint8]map[uint8]bool{}, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.readLoop()
	return r, nil
}

// Addr is the local media address (the SDP's).
func (r *RTP) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Send starts (or redirects) the 20 ms packet stream to peer.
func (r *RTP) Send(peer netip.AddrPort) {
	r.mu.Lock()
	start := !r.peer.IsValid()
	r.peer = peer
	r.mu.Unlock()
	if start {
		r.wg.Add(1)
		go r.sendLoop()
	}
}

func (r *RTP) sendLoop() {
	defer r.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0 // V=2, PT=0 (PCMU)
	binary.BigEndian.PutUint32(pkt[8:], r.SSRC)
	for i := range pkt[12:] {
		pkt[12+i] = 0xff // PCMU silence
	}
	seq, ts := uint16(rand.Uint32()), rand.Uint32()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		seq++
		ts += 160
		r.mu.Lock()
		peer := r.peer
		r.mu.Unlock()
		if _, err := r.conn.WriteToUDPAddrPort(pkt, peer); err == nil {
			r.mu.Lock()
			r.sent++
			r.mu.Unlock()
		}
	}
}

func (r *RTP) readLoop() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 12 || buf[0]>>6 != 2 || buf[1]&0x7f >= 72 && buf[1]&0x7f <= 76 {
			continue // not RTP, or RTCP
		}
		ssrc := binary.BigEndian.Uint32(buf[8:])
		r.mu.Lock()
		r.recv[ssrc]++
		pt := buf[1] & 0x7f
		r.byPT[pt]++
		if off, ok := payloadOffset(buf[:n]); ok && pt >= 96 && off < n {
			if r.events[pt] == nil {
				r.events[pt] = map[uint8]bool{}
			}
			r.events[pt][buf[off]] = true
		}
		r.from = from
		r.mu.Unlock()
	}
}

// Received is the number of packets received from other SSRCs than ours.
func (r *RTP) Received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for s, c := range r.recv {
		if s != r.SSRC {
			n += c
		}
	}
	return n
}

// payloadOffset is where an RTP packet's payload starts (after the CSRCs
// and any header extension, RFC 3550 5.3.1).
func payloadOffset(p []byte) (int, bool) {
	off := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 {
		if len(p) < off+4 {
			return 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(p[off+2:]))
	}
	return off, off <= len(p)
}

// Events are the distinct first payload bytes received with dynamic
// payload type pt, in order: for telephone-event the events (digits).
func (r *RTP) Events(pt uint8) []uint8 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.events[pt]))
}

// ReceivedPT is the number of packets received with payload type pt.
func (r *RTP) ReceivedPT(pt uint8) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byPT[pt&0x7f]
}

// ReceivedFrom is the number of packets received with SSRC ssrc.
func (r *RTP) ReceivedFrom(ssrc uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recv[ssrc]
}

// Sent is the number of packets sent.
func (r *RTP) Sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent
}

// LastSource is where the last packet came from (the relay's port).
func (r *RTP) LastSource() netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from
}

// Close stops sending and receiving.
func (r *RTP) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	_ = r.conn.Close()
	r.wg.Wait()
}
