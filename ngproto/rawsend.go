package ngproto

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendRaw sends one reply with sendmsg(2) through RawSyscall: the socket
// is non-blocking and a UDP send completes at once, so entering the
// scheduler's syscall state (which lets sysmon hand the P to another
// thread when the send takes a while, as loopback delivery does here) is
// pure cost. It reports false when it cannot (an address family it does
// not build, or EAGAIN): the caller then sends through the conn.
func sendRaw(fd int, v6sock bool, b, oob []byte, to netip.AddrPort) bool {
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
