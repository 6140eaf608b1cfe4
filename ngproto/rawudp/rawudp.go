// Package rawudp holds the non-blocking UDP system calls that the NG
// server and the SIP proxy's UDP listeners use on their hot paths:
// sendmsg and recvmsg through RawSyscall, with addresses decoded without
// allocating.
//
// Why not the net package's calls: they enter the scheduler's syscall
// state. A loopback send runs the receiver's wakeup inline and may take
// tens of microseconds, long enough for sysmon to hand the goroutine's P
// to another thread; and each such system call keeps sysmon polling every
// 20 µs. On the sockets here (non-blocking, UDP) a call never blocks, so
// that machinery is pure cost.
package rawudp

import (
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Send sends b to `to` with one sendmsg (MSG_DONTWAIT), with oob as
// control data when given. v6sock says fd is an AF_INET6 socket. It
// reports false when it cannot send (an address it does not build: a
// zoned IPv6 address, or IPv6 on an IPv4 socket; EAGAIN; any error): the
// caller then sends through its net.Conn, which waits and reports errors.
func Send(fd int, v6sock bool, b, oob []byte, to netip.AddrPort) bool {
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var name unsafe.Pointer
	var namelen uint32
	port := to.Port()
	switch {
	case !v6sock && to.Addr().Unmap().Is4():
		sa4.Family = unix.AF_INET
		sa4.Port = port<<8 | port>>8
		sa4.Addr = to.Addr().Unmap().As4()
		name, namelen = unsafe.Pointer(&sa4), unix.SizeofSockaddrInet4
	case v6sock && to.Addr().Zone() == "":
		sa6.Family = unix.AF_INET6
		sa6.Port = port<<8 | port>>8
		sa6.Addr = to.Addr().As16()
		name, namelen = unsafe.Pointer(&sa6), unix.SizeofSockaddrInet6
	default:
		return false
	}
	iov := unix.Iovec{Base: unsafe.SliceData(b)}
	iov.SetLen(len(b))
	msg := unix.Msghdr{Name: (*byte)(name), Namelen: namelen, Iov: &iov, Iovlen: 1}
	if len(oob) > 0 {
		msg.Control = unsafe.SliceData(oob)
		msg.SetControllen(len(oob))
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
	return errno == 0
}

// Recv reads one datagram without waiting (recvmsg with MSG_DONTWAIT) into
// buf, and control data into oob when given, and decodes the source
// address without allocating. errno is EAGAIN when nothing is queued.
// IPv4 peers of a dual-stack socket stay v4-mapped, as with Go's UDPConn;
// an IPv6 zone is the interface index.
func Recv(fd int, buf, oob []byte) (n, oobn int, from netip.AddrPort, errno unix.Errno) {
	var name unix.RawSockaddrInet6 // large enough for either family
	iov := unix.Iovec{Base: unsafe.SliceData(buf)}
	iov.SetLen(len(buf))
	msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&name)), Namelen: unix.SizeofSockaddrInet6, Iov: &iov, Iovlen: 1}
	if len(oob) > 0 {
		msg.Control = unsafe.SliceData(oob)
		msg.SetControllen(len(oob))
	}
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
	if e != 0 {
		return 0, 0, netip.AddrPort{}, e
	}
	port := name.Port<<8 | name.Port>>8
	switch name.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&name))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		ip := netip.AddrFrom16(name.Addr)
		if name.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(name.Scope_id), 10))
		}
		from = netip.AddrPortFrom(ip, port)
	}
	return int(r), int(msg.Controllen), from, 0
}
