package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"sipmedia/mediad/internal/rawsys"
)

const (
	batch     = 8    // datagrams per recvmmsg
	bufSize   = 2048 // larger than any RTP packet on an Ethernet path
	maxEvents = 256
	chunkBits = 10
	chunkSize = 1 << chunkBits
	dirSize   = 1 << 10 // up to dirSize*chunkSize streams per loop
)

// poller is one read loop: an epoll instance over the descriptors of its
// streams, with preallocated receive buffers so the packet path does not
// allocate. The epoll descriptor itself is registered with the Go runtime's
// network poller, so an idle loop is a parked goroutine (no thread blocked
// in epoll_wait, no scheduler hand-off per wake-up) and a busy one drains
// events with non-blocking epoll_wait calls. Level-triggered: a socket with
// more queued than one recvmmsg takes comes back on the next round, so one
// busy socket cannot starve the others.
type poller struct {
	e     *Engine
	shard *totalsShard
	epfd  int
	file  *os.File // epfd, registered with the runtime poller
	rc    syscall.RawConn
	wait  func(fd uintptr) bool // p.round, bound once

	// Slot table: epoll data carries a slot number, resolved lock-free by
	// the loop; mu serialises slot allocation and closing.
	dir [dirSize]atomic.Pointer[[chunkSize]atomic.Pointer[Stream]]
	mu  struct {
		sync.Mutex
		free   []int32
		next   int32
		closed bool
	}

	// Owned by the loop goroutine.
	events []unix.EpollEvent
	msgs   [batch]mmsghdr
	iovs   [batch]unix.Iovec
	names  [batch]unix.RawSockaddrInet6
	bufs   [batch][bufSize]byte
	out    [bufSize + MaxOverhead]byte // Transform.Outbound output
	sa4    unix.RawSockaddrInet4
	sa6    unix.RawSockaddrInet6

	// With io_uring (ring != nil), a round receives one datagram from each
	// ready socket into arena with one system call, handles them, and sends
	// all the resulting packets with another.
	ring     *uring
	onRecv   func(userData uint64, res int32)
	onSend   func(userData uint64, res int32)
	arena    [maxEvents][bufSize]byte
	rmsgs    [maxEvents]unix.Msghdr
	riovs    [maxEvents]unix.Iovec
	rnames   [maxEvents]unix.RawSockaddrInet6
	rstreams [maxEvents]*Stream
	rres     [maxEvents]int32
	smsgs    [maxEvents]unix.Msghdr
	siovs    [maxEvents]unix.Iovec
	snames   [maxEvents]unix.RawSockaddrInet6
	ssinks   [maxEvents]*Stream
	sres     [maxEvents]int32
	nsend    int

	lastRound int // ready sockets in the last round
}

// errQueued tells handle that the send was queued on the ring and will be
// counted when it completes.
var errQueued = errors.New("relay: send queued")

// mmsghdr is struct mmsghdr (x/sys has the type but no recvmmsg wrapper).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func newPoller(e *Engine, shard *totalsShard) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll nonblock: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "relay-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll rawconn: %w", err)
	}
	p := &poller{e: e, shard: shard, epfd: epfd, file: f, rc: rc, events: make([]unix.EpollEvent, maxEvents)}
	p.wait = p.round
	if !e.noRing {
		if r, err := newURing(uringSQEntries); err == nil {
			p.ring = r
		} else {
			e.log.Info("io_uring not available, using recvmmsg/sendto", "err", err)
		}
	}
	p.onRecv = func(ud uint64, res int32) {
		if ud < maxEvents {
			p.rres[ud] = res
		}
	}
	p.onSend = func(ud uint64, res int32) {
		if ud&userDataSendBit != 0 && ud&^userDataSendBit < maxEvents {
			p.sres[ud&^userDataSendBit] = res
		}
	}
	for i := range p.rmsgs {
		p.riovs[i].Base = &p.arena[i][0]
		p.riovs[i].SetLen(bufSize)
		p.rmsgs[i].Name = (*byte)(unsafe.Pointer(&p.rnames[i]))
		p.rmsgs[i].Iov = &p.riovs[i]
		p.rmsgs[i].Iovlen = 1
		p.smsgs[i].Name = (*byte)(unsafe.Pointer(&p.snames[i]))
		p.smsgs[i].Iov = &p.siovs[i]
		p.smsgs[i].Iovlen = 1
	}
	for i := range p.msgs {
		p.iovs[i].Base = &p.bufs[i][0]
		p.iovs[i].SetLen(bufSize)
		p.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&p.names[i]))
		p.msgs[i].hdr.Iov = &p.iovs[i]
		p.msgs[i].hdr.Iovlen = 1
	}
	return p, nil
}

func (p *poller) add(s *Stream) error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	var slot int32
	if n := len(p.mu.free); n > 0 {
		slot = p.mu.free[n-1]
		p.mu.free = p.mu.free[:n-1]
	} else {
		if p.mu.next >= dirSize*chunkSize {
			p.mu.Unlock()
			return errors.New("read loop full")
		}
		slot = p.mu.next
		p.mu.next++
		if slot&(chunkSize-1) == 0 {
			p.dir[slot>>chunkBits].Store(new([chunkSize]atomic.Pointer[Stream]))
		}
	}
	p.mu.Unlock()

	s.poller, s.slot = p, slot
	p.dir[slot>>chunkBits].Load()[slot&(chunkSize-1)].Store(s)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: slot}
	if err := rawsys.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		// Free the slot here and detach the stream from this poller, so the
		// caller's cleanup (removeStream) does not free the slot a second time.
		p.mu.Lock()
		p.dir[slot>>chunkBits].Load()[slot&(chunkSize-1)].CompareAndSwap(s, nil)
		p.mu.free = append(p.mu.free, slot)
		p.mu.Unlock()
		s.poller = nil
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// remove unregisters s. An event for s already returned by epoll_wait may
// still be handled; it then finds an empty (or reused) slot, and s's
// descriptor stays valid until its last user lets go (Stream.ref).
func (p *poller) remove(s *Stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.closed && s.acquire() {
		_ = rawsys.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		s.release()
	}
	p.dir[s.slot>>chunkBits].Load()[s.slot&(chunkSize-1)].CompareAndSwap(s, nil)
	p.mu.free = append(p.mu.free, s.slot)
}

// stop closes the epoll descriptor; the loop's parked read returns.
func (p *poller) stop() {
	p.mu.Lock()
	p.mu.closed = true
	p.mu.Unlock()
	p.file.Close()
}

// closeRing releases the ring once the loop has stopped.
func (p *poller) closeRing() {
	if p.ring != nil {
		p.ring.close()
		p.ring = nil
	}
}

func (p *poller) run() {
	for {
		if err := p.rc.Read(p.wait); err != nil {
			p.mu.Lock()
			stopping := p.mu.closed
			p.mu.Unlock()
			if !stopping {
				p.e.log.Error("relay read loop stopped", "err", err)
			}
			return
		}
		// A round that was not full: let packets gather for a moment so
		// the next round's system calls are shared by more of them.
		if c := p.e.coalesce; c > 0 && p.lastRound < maxEvents/2 {
			time.Sleep(c)
		}
	}
}

// round handles one epoll_wait's worth of ready sockets without blocking.
// It returns false when nothing is ready, which parks the goroutine in the
// runtime poller until the epoll descriptor becomes readable again.
func (p *poller) round(fd uintptr) bool {
	// Non-blocking (timeout 0), so a raw system call: see uring.submitAndWait.
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	n := int(r)
	if errno != 0 || n <= 0 {
		return false
	}
	p.lastRound = n
	now := time.Now().UnixNano()
	if p.ring != nil {
		p.roundRing(n, now)
		return true
	}
	for i := range n {
		slot := p.events[i].Fd
		s := p.dir[slot>>chunkBits].Load()[slot&(chunkSize-1)].Load()
		if s != nil {
			p.receive(s, now)
		}
	}
	return true
}

// roundRing receives one datagram from each of the n ready sockets with a
// single io_uring_enter, handles them (queueing their sends), and flushes
// the sends.
func (p *poller) roundRing(n int, now int64) {
	k := 0
	for i := range n {
		slot := p.events[i].Fd
		s := p.dir[slot>>chunkBits].Load()[slot&(chunkSize-1)].Load()
		if s == nil || !s.acquire() {
			continue
		}
		m := &p.rmsgs[k]
		m.Namelen = unix.SizeofSockaddrInet6
		m.Flags = 0
		p.rres[k] = -int32(unix.EAGAIN)
		if p.ring.msgOp(opRecvmsg, s.fd, m, unix.MSG_DONTWAIT, uint64(k)) != nil {
			s.release()
			break
		}
		p.rstreams[k] = s
		k++
	}
	if k == 0 {
		return
	}
	err := p.ring.submitAndWait(uint32(k))
	if err == nil {
		p.ring.reap(p.onRecv)
	} else {
		p.e.log.Error("relay receive", "err", err)
	}
	for i := range k {
		s := p.rstreams[i]
		p.rstreams[i] = nil
		if res := p.rres[i]; err == nil && res >= 0 {
			if p.rmsgs[i].Flags&unix.MSG_TRUNC != 0 {
				s.in.errors.Add(1)
				p.shard.errors.Add(1)
			} else {
				s.handle(p, p.arena[i][:res:bufSize], sockaddrAddrPort(&p.rnames[i]), now)
			}
		}
		s.release()
	}
	p.flushSends()
}

// queueSend queues pkt (which stays valid until the end of the round) to
// be sent from sink's socket to dst.
func (p *poller) queueSend(sink *Stream, pkt []byte, dst netip.AddrPort) error {
	if p.nsend == maxEvents {
		p.flushSends()
	}
	j := p.nsend
	sa := &p.snames[j]
	a := dst.Addr()
	switch {
	case sink.v6:
		sa.Family = unix.AF_INET6
		sa.Port = htons(dst.Port())
		sa.Flowinfo, sa.Scope_id = 0, 0
		sa.Addr = a.As16()
		p.smsgs[j].Namelen = unix.SizeofSockaddrInet6
	case a.Is4():
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Port = htons(dst.Port())
		sa4.Addr = a.As4()
		p.smsgs[j].Namelen = unix.SizeofSockaddrInet4
	default:
		return unix.EAFNOSUPPORT
	}
	if !sink.acquire() {
		return ErrClosed
	}
	p.siovs[j].Base = &pkt[0]
	p.siovs[j].SetLen(len(pkt))
	p.sres[j] = -int32(unix.ECANCELED)
	if err := p.ring.msgOp(opSendmsg, sink.fd, &p.smsgs[j], unix.MSG_DONTWAIT, userDataSendBit|uint64(j)); err != nil {
		sink.release()
		return err
	}
	p.ssinks[j] = sink
	p.nsend++
	return errQueued
}

// flushSends submits the queued sends, waits for them and counts them.
func (p *poller) flushSends() {
	n := p.nsend
	if n == 0 {
		return
	}
	p.nsend = 0
	if err := p.ring.submitAndWait(uint32(n)); err != nil {
		p.e.log.Error("relay send", "err", err)
	} else {
		p.ring.reap(p.onSend)
	}
	for j := range n {
		sink := p.ssinks[j]
		p.ssinks[j] = nil
		if res := p.sres[j]; res >= 0 {
			sink.out.packets.Add(1)
			sink.out.bytes.Add(uint64(res))
		} else {
			sink.out.errors.Add(1)
			p.shard.errors.Add(1)
		}
		sink.release()
	}
}

// receive takes up to one batch of datagrams off s's socket and handles them.
func (p *poller) receive(s *Stream, now int64) {
	if !s.acquire() {
		return
	}
	for i := range p.msgs {
		p.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		p.msgs[i].hdr.Flags = 0
	}
	// Raw syscalls: the descriptor is non-blocking and MSG_DONTWAIT is set,
	// so the scheduler need not be told.
	r, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd),
		uintptr(unsafe.Pointer(&p.msgs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		s.release()
		return
	}
	for i := range int(r) {
		m := &p.msgs[i]
		if m.hdr.Flags&unix.MSG_TRUNC != 0 {
			s.in.errors.Add(1)
			p.shard.errors.Add(1)
			continue
		}
		src := sockaddrAddrPort(&p.names[i])
		s.handle(p, p.bufs[i][:m.n:bufSize], src, now)
	}
	s.release()
}

// send sends pkt from sink's socket to dst without blocking: a full socket
// buffer is an error (counted), not a stall for every call on this loop.
// With a ring and a packet that lives until the end of the round (stable),
// the send is queued and errQueued returned.
func (p *poller) send(sink *Stream, pkt []byte, dst netip.AddrPort, stable bool) error {
	if p.ring != nil && stable {
		return p.queueSend(sink, pkt, dst)
	}
	if !sink.acquire() {
		return ErrClosed
	}
	defer sink.release()
	var sa unsafe.Pointer
	var salen uintptr
	a := dst.Addr()
	switch {
	case sink.v6:
		p.sa6.Family = unix.AF_INET6
		p.sa6.Port = htons(dst.Port())
		p.sa6.Addr = a.As16()
		sa, salen = unsafe.Pointer(&p.sa6), unix.SizeofSockaddrInet6
	case a.Is4():
		p.sa4.Family = unix.AF_INET
		p.sa4.Port = htons(dst.Port())
		p.sa4.Addr = a.As4()
		sa, salen = unsafe.Pointer(&p.sa4), unix.SizeofSockaddrInet4
	default:
		return unix.EAFNOSUPPORT
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(sink.fd),
		uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)), unix.MSG_DONTWAIT, uintptr(sa), salen)
	if errno != 0 {
		return errno
	}
	return nil
}

// sendto is the slow-path send for Stream.WriteToUDPAddrPort.
func sendto(fd int, v6 bool, b []byte, dst netip.AddrPort) error {
	var sa unix.Sockaddr
	switch a := dst.Addr(); {
	case v6:
		sa = &unix.SockaddrInet6{Port: int(dst.Port()), Addr: a.As16()}
	case a.Is4() || a.Is4In6():
		sa = &unix.SockaddrInet4{Port: int(dst.Port()), Addr: a.Unmap().As4()}
	default:
		return unix.EAFNOSUPPORT
	}
	return unix.Sendto(fd, b, unix.MSG_DONTWAIT, sa)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func sockaddrAddrPort(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), htons(sa4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), htons(rsa.Port))
	}
	return netip.AddrPort{}
}

// takeSocket duplicates conn's descriptor and closes conn.
func takeSocket(conn *net.UDPConn) (fd int, local netip.AddrPort, v6 bool, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, local, false, fmt.Errorf("%w: %w", ErrNotUDP, err)
	}
	fd = -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, local, false, fmt.Errorf("%w: %w", ErrNotUDP, err)
	}
	if derr != nil {
		return -1, local, false, fmt.Errorf("dup: %w", derr)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, local, false, fmt.Errorf("getsockname: %w", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
		v6 = true
	default:
		unix.Close(fd)
		return -1, local, false, ErrNotUDP
	}
	// The duplicate shares the file description, so it is non-blocking too;
	// make sure anyway, the loops must never block on a socket.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, local, false, fmt.Errorf("set nonblock: %w", err)
	}
	conn.Close()
	return fd, local, v6, nil
}

func closeFD(fd int) { _ = rawsys.Close(fd) }
