package ngproto

import (
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvRaw reads one datagram without waiting (recvmsg with MSG_DONTWAIT
// through RawSyscall: it never blocks) and decodes the source address
// without allocating. errno is EAGAIN when nothing is queued.
func recvRaw(fd int, buf, oob []byte) (n, oobn int, from netip.AddrPort, errno unix.Errno) {
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
		// IPv4 peers on a dual-stack socket stay v4-mapped, as with Go's
		// UDPConn; the zone is the interface index.
		ip := netip.AddrFrom16(name.Addr)
		if name.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(name.Scope_id), 10))
		}
		from = netip.AddrPortFrom(ip, port)
	}
	return int(r), int(msg.Controllen), from, 0
}
