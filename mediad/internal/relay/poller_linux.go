package relay

import (
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

const (
	batch      = 8    // datagrams per recvmmsg
	bufSize    = 2048 // larger than any RTP packet on an Ethernet path
	maxEvents  = 256
	chunkBits  = 10
	chunkSize  = 1 << chunkBits
	dirSize    = 1 << 10 // up to dirSize*chunkSize streams per loop
	wakeMarker = -1      // epoll data of the wake-up eventfd
)

// poller is one read loop: an epoll instance over the descriptors of its
// streams, driven by one goroutine, with preallocated receive buffers so the
// packet path does not allocate. Level-triggered: a socket with more queued
// than one recvmmsg takes comes back on the next wait, so one busy socket
// cannot starve the others.
type poller struct {
	e       *Engine
	shard   *totalsShard
	epfd    int
	wakefd  int
	stopped atomic.Bool

	// Slot table: epoll data carries a slot number, resolved lock-free by
	// the loop; mu serialises slot allocation only.
	dir [dirSize]atomic.Pointer[[chunkSize]atomic.Pointer[Stream]]
	mu  struct {
		sync.Mutex
		free []int32
		next int32
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
}

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
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeMarker}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, fmt.Errorf("epoll_ctl wake: %w", err)
	}
	p := &poller{e: e, shard: shard, epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, maxEvents)}
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
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		p.remove(s)
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// remove unregisters s. An event for s already returned by epoll_wait may
// still be handled; it then finds an empty (or reused) slot, and s's
// descriptor stays valid until its last user lets go (Stream.ref).
func (p *poller) remove(s *Stream) {
	if s.acquire() {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
		s.release()
	}
	p.dir[s.slot>>chunkBits].Load()[s.slot&(chunkSize-1)].CompareAndSwap(s, nil)
	p.mu.Lock()
	p.mu.free = append(p.mu.free, s.slot)
	p.mu.Unlock()
}

func (p *poller) stop() {
	p.stopped.Store(true)
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:])
}

func (p *poller) closeFDs() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

func (p *poller) run() {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.e.log.Error("relay read loop stopped", "err", err)
			return
		}
		now := time.Now().UnixNano()
		for i := range n {
			slot := p.events[i].Fd
			if slot == wakeMarker {
				if p.stopped.Load() {
					return
				}
				continue
			}
			s := p.dir[slot>>chunkBits].Load()[slot&(chunkSize-1)].Load()
			if s != nil {
				p.receive(s, now)
			}
		}
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
func (p *poller) send(sink *Stream, pkt []byte, dst netip.AddrPort) error {
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

func closeFD(fd int) { unix.Close(fd) }
