package nettopo

import (
	"fmt"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SetTxChecksum turns transmit checksum offload of device dev in ns on or
// off (ethtool -K dev tx on|off). With it off, the kernel completes every
// checksum in software before the packet leaves, so a veth peer's UDP
// stack verifies what it receives instead of trusting a partial checksum:
// tests use that to catch wrong checksum updates.
func SetTxChecksum(ns netns.NsHandle, dev string, on bool) error {
	return Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
		if on {
			val.data = 1
		}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte // struct ifreq is 40 bytes
		}
		copy(ifr.name[:], dev)
		ifr.data = unsafe.Pointer(&val)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("ethtool set tx checksum of %s: %w", dev, errno)
		}
		return nil
	})
}
