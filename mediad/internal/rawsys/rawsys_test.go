package rawsys

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestBindCloseEpoll(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1"} {
		addr := netip.MustParseAddr(a)
		fam := unix.AF_INET
		if addr.Is6() {
			fam = unix.AF_INET6
		}
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := Bind(fd, addr, 0, 0); err != nil {
			t.Fatalf("bind %s: %v", a, err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		var got netip.Addr
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			got = netip.AddrFrom4(sa.Addr)
		case *unix.SockaddrInet6:
			got = netip.AddrFrom16(sa.Addr)
		}
		if got != addr {
			t.Fatalf("bound to %v, want %v", got, addr)
		}
		// A second socket on the same port: EADDRINUSE comes back as is.
		port := 0
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			port = sa.Port
		case *unix.SockaddrInet6:
			port = sa.Port
		}
		fd2, _ := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err := Bind(fd2, addr, port, 0); !errors.Is(err, unix.EADDRINUSE) {
			t.Fatalf("second bind on %s:%d: %v, want EADDRINUSE", a, port, err)
		}
		_ = Close(fd2)

		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: 7}
		if err := EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			t.Fatalf("epoll add: %v", err)
		}
		if err := EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); !errors.Is(err, unix.EEXIST) {
			t.Fatalf("second add: %v, want EEXIST", err)
		}
		if err := EpollCtl(ep, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
			t.Fatalf("epoll del: %v", err)
		}
		_ = Close(ep)
		if err := Close(fd); err != nil {
			t.Fatal(err)
		}
		if err := Close(fd); !errors.Is(err, unix.EBADF) {
			t.Fatalf("second close: %v, want EBADF", err)
		}
	}
}
