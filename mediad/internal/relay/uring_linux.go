package relay

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal io_uring (no liburing): the read loops use it to batch the
// receives of one epoll round into one system call and the sends of that
// round into another. Every operation carries MSG_DONTWAIT, so it completes
// during io_uring_enter and no buffer or descriptor outlives the round.
// On the paravirtualised machines this runs on, a system call costs
// microseconds, so batching them is most of the relay's per-packet cost.

const (
	opSendmsg       = 9
	opRecvmsg       = 10
	enterGetEvents  = 1
	offSQRing       = 0
	offCQRing       = 0x8000000
	offSQEs         = 0x10000000
	featSingleMmap  = 1 << 0
	uringSQEntries  = 512
	sqeSize         = 64
	cqeSize         = 16
	userDataSendBit = 1 << 63
)

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// uring is one ring, used by one goroutine only.
type uring struct {
	fd              int
	ringMem, sqeMem []byte
	sqHead, sqTail  *uint32
	sqMask, sqCount uint32
	sqArray         []uint32
	sqes            []sqe
	cqHead, cqTail  *uint32
	cqMask          uint32
	cqes            []cqe
	tail, submitted uint32 // local SQ tail, and how far it was published
}

var errRingFull = errors.New("relay: io_uring submission queue full")

func newURing(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd)}
	sqSize := p.sqOff.array + p.sqEntries*4
	cqSize := p.cqOff.cqes + p.cqEntries*cqeSize
	if p.features&featSingleMmap == 0 {
		unix.Close(r.fd)
		return nil, errors.New("io_uring: kernel without single mmap")
	}
	size := max(sqSize, cqSize)
	mem, err := unix.Mmap(r.fd, offSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring mmap rings: %w", err)
	}
	r.ringMem = mem
	smem, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries*sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap sqes: %w", err)
	}
	r.sqeMem = smem
	base := unsafe.Pointer(&mem[0])
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail = u32(p.sqOff.head), u32(p.sqOff.tail)
	r.sqMask, r.sqCount = *u32(p.sqOff.ringMask), *u32(p.sqOff.ringEntries)
	r.sqArray = unsafe.Slice(u32(p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&smem[0])), p.sqEntries)
	r.cqHead, r.cqTail = u32(p.cqOff.head), u32(p.cqOff.tail)
	r.cqMask = *u32(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	r.submitted = r.tail
	return r, nil
}

// msgOp queues a sendmsg or recvmsg on fd.
func (r *uring) msgOp(op uint8, fd int, msg *unix.Msghdr, flags uint32, userData uint64) error {
	if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqCount {
		return errRingFull
	}
	idx := r.tail & r.sqMask
	e := &r.sqes[idx]
	*e = sqe{opcode: op, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(msg))), len: 1, opFlags: flags, userData: userData}
	r.sqArray[idx] = idx
	r.tail++
	return nil
}

// submitAndWait submits what is queued and waits until wait completions
// are available.
func (r *uring) submitAndWait(wait uint32) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		n := r.tail - r.submitted
		// Raw: every operation is non-blocking and completes inside the
		// call, and telling the scheduler about a syscall this short only
		// keeps its monitor thread waking up (costly on these VMs).
		_, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(wait), enterGetEvents, 0, 0)
		if errno == unix.EINTR {
			// Some submissions may have happened; the kernel's head tells.
			r.submitted = atomic.LoadUint32(r.sqHead)
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		r.submitted = r.tail
		return nil
	}
}

// reap calls fn for every available completion.
func (r *uring) reap(fn func(userData uint64, res int32)) {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		fn(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, head)
}

func (r *uring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		unix.Munmap(r.ringMem)
	}
	unix.Close(r.fd)
}
