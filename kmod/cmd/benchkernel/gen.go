package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"sipmedia/kmod/nettopo"
)

// Payload header: call index (4), direction (1), sequence (4, always 0:
// every frame is built once).
const headerLen = 9

// maxBatch is the kernel's limit on sendmmsg's vlen (UIO_MAXIOV).
const maxBatch = 1024

// blaster is one endpoint's sender. It writes ready-made Ethernet frames to
// an AF_PACKET socket that bypasses the qdisc, so the generator costs no
// UDP/IP send path, no route or neighbour lookup and no per-packet work in
// userspace: each call's frame is built once, and the calls of one pacing
// slot are contiguous, so one sendmmsg sends up to maxBatch of them. What
// R sees is what a phone's stack would send.
type blaster struct {
	fd     int
	frames [][]byte
	iovs   []unix.Iovec
	hdrs   []unix.Mmsghdr
}

// newBlaster builds call i's frame from src to dst(i), for every call, sent
// out of ifname in ns towards the next hop's MAC address.
func newBlaster(ns netns.NsHandle, ifname string, nextHop net.HardwareAddr, src netip.AddrPort,
	dst func(int) netip.AddrPort, dir byte, calls, payload int) (*blaster, error) {
	own, err := nettopo.HardwareAddr(ns, ifname)
	if err != nil {
		return nil, err
	}
	var ifindex int
	fd := -1
	err = nettopo.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		// Protocol 0: a send-only socket, no receive hook on the device.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("packet socket on %s: %w", ifname, err)
	}
	b := &blaster{fd: fd}
	if err := errors.Join(
		unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}),
		unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 16<<20),
	); err != nil {
		b.Close()
		return nil, fmt.Errorf("packet socket on %s: %w", ifname, err)
	}
	b.frames = make([][]byte, calls)
	b.iovs = make([]unix.Iovec, calls)
	b.hdrs = make([]unix.Mmsghdr, calls)
	for i := range calls {
		f := udpFrame(nextHop, own, src, dst(i), payload)
		p := f[len(f)-payload:]
		binary.BigEndian.PutUint32(p, uint32(i))
		p[4] = dir
		finishUDP(f)
		b.frames[i] = f
		b.iovs[i].Base = &f[0]
		b.iovs[i].SetLen(len(f))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b, nil
}

func (b *blaster) Close() error {
	if b.fd < 0 {
		return nil
	}
	err := unix.Close(b.fd)
	b.fd = -1
	return err
}

// send sends the frames of calls lo..hi-1 and returns how many left.
func (b *blaster) send(lo, hi int) uint64 {
	var sent uint64
	for lo < hi {
		n := min(hi-lo, maxBatch)
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&b.hdrs[lo])), uintptr(n), 0, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.ENOBUFS {
				time.Sleep(50 * time.Microsecond)
				continue
			}
			return sent
		}
		lo += int(r)
		sent += uint64(r)
	}
	return sent
}

// sendLoop sends, for opt.duration from start, every call's frame once per
// 1/pps seconds: the period is cut into slots of opt.slot and each slot
// sends its contiguous share of the calls in one burst. A sender that falls behind
// catches up without sleeping and stops at the end, so sent/duration is the
// rate it really offered.
func sendLoop(b *blaster, calls int, opt options, start time.Time) uint64 {
	slots := max(1, int(time.Second/time.Duration(opt.pps)/max(opt.slot, time.Millisecond)))
	period := time.Second / time.Duration(opt.pps*slots)
	end := start.Add(opt.duration)
	next := start
	var sent uint64
	for slot := 0; ; slot = (slot + 1) % slots {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if !time.Now().Before(end) {
			break
		}
		sent += b.send(slot*calls/slots, (slot+1)*calls/slots)
		next = next.Add(period)
	}
	return sent
}

// udpFrame lays out Ethernet, IPv4 (DF, TTL 64) and UDP headers and a zero
// payload; finishUDP fills in the checksums once the payload is written.
func udpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.AddrPort, payload int) []byte {
	f := make([]byte, 14+20+8+payload)
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+payload))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, unix.IPPROTO_UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^csumAdd(0, ip))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(8+payload))
	return f
}

// finishUDP computes the UDP checksum of a frame from udpFrame.
func finishUDP(f []byte) {
	ip, udp := f[14:34], f[34:]
	var pseudo [12]byte
	copy(pseudo[0:8], ip[12:20])
	pseudo[9] = unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	c := ^csumAdd(csumAdd(0, pseudo[:]), udp)
	if c == 0 {
		c = 0xffff // 0 means "no checksum" in UDP over IPv4
	}
	binary.BigEndian.PutUint16(udp[6:], c)
}

// csumAdd adds b to a ones' complement sum (RFC 1071), folded to 16 bits.
func csumAdd(sum uint16, b []byte) uint16 {
	s := uint32(sum)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
