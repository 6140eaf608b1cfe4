package kmod

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// MarkSocket sets SO_MARK on a relay media socket (CAP_NET_ADMIN needed),
// for use with Config.SocketMark. Pick a mark that policy routing on the
// host does not use.
func MarkSocket(c syscall.RawConn, mark uint32) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("kmod: set SO_MARK: %w", err)
	}
	return nil
}
