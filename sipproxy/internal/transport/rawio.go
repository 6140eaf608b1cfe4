package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"sipmedia/ngproto/rawudp"
)

// rawIO reads and writes a UDP listener with package rawudp's system
// calls, made inside the poller's locks (syscall.RawConn's Read and
// Write), so a closed socket is never touched and a full socket still
// waits in the poller. At a few thousand calls a second the net package's
// calls kept sysmon polling every 20 µs: 10% of the proxy's CPU.
type rawIO struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket

	// The reader's state: udpConn.ReadFrom has one caller at a time
	// (sipgo's read loop), so the callback is made once.
	rbuf   []byte
	rn     int
	rfrom  netip.AddrPort
	rerr   unix.Errno
	readFn func(fd uintptr) bool

	// With observe, the kernel stamps each datagram on arrival, roob
	// receives the stamp and observe is told how long it waited.
	observe func(wait time.Duration)
	roob    []byte
	roobn   int

	writers sync.Pool // of *rawWrite
}

// newRawIO returns nil when pc is not a UDP socket it can drive. A
// non-nil observe is told each datagram's wait in the socket, if the
// socket gives arrival times (SO_TIMESTAMPNS).
func newRawIO(pc net.PacketConn, observe func(time.Duration)) *rawIO {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	dom, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dom, derr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) }); err != nil || derr != nil {
		return nil
	}
	r := &rawIO{rc: rc, v6: dom == unix.AF_INET6}
	r.writers.New = func() any {
		w := &rawWrite{}
		w.fn = func(fd uintptr) bool {
			w.sent = rawudp.Send(int(fd), r.v6, w.b, nil, w.to)
			return true
		}
		return w
	}
	if observe != nil {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) }); err == nil && serr == nil {
			r.observe, r.roob = observe, make([]byte, 64)
		}
	}
	r.readFn = func(fd uintptr) bool {
		r.rn, r.roobn, r.rfrom, r.rerr = rawudp.Recv(int(fd), r.rbuf, r.roob)
		return r.rerr != unix.EAGAIN
	}
	return r
}

// arrival returns the SCM_TIMESTAMPNS stamp among control messages,
// false if there is none.
func arrival(oob []byte) (time.Time, bool) {
	const hdr = unix.SizeofCmsghdr // len (8), level (4), type (4)
	for len(oob) >= hdr {
		l := int(binary.NativeEndian.Uint64(oob))
		if l < hdr || l > len(oob) {
			return time.Time{}, false
		}
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && l >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return time.Unix(sec, nsec), true
		}
		next := (l + 7) &^ 7 // CMSG_ALIGN
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return time.Time{}, false
}

// readFrom waits for and reads one datagram.
func (r *rawIO) readFrom(b []byte) (int, net.Addr, error) {
	r.rbuf = b
	err := r.rc.Read(r.readFn)
	r.rbuf = nil
	if err != nil {
		return 0, nil, err
	}
	if r.rerr != 0 {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmsg", r.rerr)}
	}
	if r.observe != nil {
		if at, ok := arrival(r.roob[:r.roobn]); ok {
			r.observe(time.Since(at))
		}
	}
	addr := net.UDPAddrFromAddrPort(r.rfrom)
	if z := r.rfrom.Addr().Zone(); z != "" {
		// rawudp gives the interface index; the net package names it.
		if i, err := strconv.Atoi(z); err == nil {
			if ifi, err := net.InterfaceByIndex(i); err == nil {
				addr.Zone = ifi.Name
			}
		}
	}
	return r.rn, addr, nil
}

// writeTo sends b in one system call and reports whether it did; on false
// the caller sends through the conn, which waits or reports the error.
func (r *rawIO) writeTo(b []byte, to netip.AddrPort) bool {
	// Senders run concurrently, so each send's state is its own; pooled
	// with its callback made once, since a closure per datagram was
	// 2% of the proxy's allocated bytes.
	w := r.writers.Get().(*rawWrite)
	w.b, w.to, w.sent = b, to, false
	err := r.rc.Write(w.fn)
	sent := err == nil && w.sent
	w.b = nil
	r.writers.Put(w)
	return sent
}

// rawWrite is one send's state for writeTo.
type rawWrite struct {
	b    []byte
	to   netip.AddrPort
	sent bool
	fn   func(fd uintptr) bool
}
