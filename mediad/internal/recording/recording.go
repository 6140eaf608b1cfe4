package recording

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// pcap link types (libpcap's LINKTYPE_ values, as its files carry them).
const (
	linkEthernet = 1
	linkRaw      = 101
)

// Recording is one call's pcap and metadata files. Its methods are safe
// for concurrent use: the relay's read loops write packets while
// signalling writes SDPs.
type Recording struct {
	path     string // the pcap file, as replies name it
	metaTmp  string // the metadata file while the recording runs
	metaDone string // where it goes at Finish
	eth      bool

	mu     sync.Mutex
	pcap   *os.File
	w      *bufio.Writer
	meta   *os.File
	num    uint64 // the next packet's number, from 1 as Wireshark counts
	failed bool   // a write failed: the recording stops writing
	done   bool
	hdr    [16 + 14 + 40 + 8]byte // a packet's record, link, IP and UDP headers
}

// Start creates the files of a new recording of callID. The metadata
// file begins with the pcap file's path.
func (s *Spool) Start(callID string) (*Recording, error) {
	p := prefix(callID)
	r := &Recording{
		path:     filepath.Join(s.dir, "pcaps", p+".pcap"),
		metaTmp:  filepath.Join(s.dir, "tmp", "rtpengine-meta-"+p+".tmp"),
		metaDone: filepath.Join(s.dir, "metadata", "rtpengine-meta-"+p+".txt"),
		eth:      s.eth,
		num:      1,
	}
	meta, err := os.OpenFile(r.metaTmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o664)
	if err != nil {
		return nil, fmt.Errorf("metadata file: %w", err)
	}
	_ = meta.Chmod(0o664) // as rtpengine, whatever the umask
	f, err := os.Create(r.path)
	if err != nil {
		meta.Close()
		os.Remove(r.metaTmp)
		return nil, fmt.Errorf("recording file: %w", err)
	}
	r.meta, r.pcap = meta, f
	r.w = bufio.NewWriterSize(f, 64<<10)
	var gh [24]byte
	binary.LittleEndian.PutUint32(gh[0:], 0xa1b2c3d4) // microsecond timestamps
	binary.LittleEndian.PutUint16(gh[4:], 2)
	binary.LittleEndian.PutUint16(gh[6:], 4)
	binary.LittleEndian.PutUint32(gh[16:], 65535) // snapshot length
	link := uint32(linkRaw)
	if r.eth {
		link = linkEthernet
	}
	binary.LittleEndian.PutUint32(gh[20:], link)
	_, err = r.w.Write(gh[:])
	if err == nil {
		_, err = fmt.Fprintf(meta, "%s\n\n", r.path)
	}
	if err != nil {
		r.abandon()
		return nil, fmt.Errorf("recording %s: %w", r.path, err)
	}
	return r, nil
}

// Path is the pcap file's path.
func (r *Recording) Path() string { return r.path }

// abandon closes and removes the files of a recording that could not start.
func (r *Recording) abandon() {
	r.pcap.Close()
	r.meta.Close()
	os.Remove(r.path)
	os.Remove(r.metaTmp)
}

// Packet appends one received packet to the pcap file, with IP and UDP
// headers from src to dst (the local socket it arrived on) and the time
// now (unix nanoseconds). It does not allocate.
func (r *Recording) Packet(src, dst netip.AddrPort, pkt []byte, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.failed {
		return
	}
	h := r.hdr[16:]
	n := 0
	if r.eth {
		clear(h[:12])
		et := uint16(0x0800)
		if !dst.Addr().Unmap().Is4() {
			et = 0x86dd
		}
		binary.BigEndian.PutUint16(h[12:], et)
		n = 14
	}
	n += ipUDPHeader(h[n:], src, dst, len(pkt))
	binary.LittleEndian.PutUint32(r.hdr[0:], uint32(now/1e9))
	binary.LittleEndian.PutUint32(r.hdr[4:], uint32(now%1e9/1e3))
	binary.LittleEndian.PutUint32(r.hdr[8:], uint32(n+len(pkt)))
	binary.LittleEndian.PutUint32(r.hdr[12:], uint32(n+len(pkt)))
	if _, err := r.w.Write(r.hdr[:16+n]); err != nil {
		r.failed = true
		return
	}
	if _, err := r.w.Write(pkt); err != nil {
		r.failed = true
		return
	}
	r.num++
}

// ipUDPHeader writes rtpengine's made-up headers (no checksums, TTL or
// hop limit 64) for a UDP payload of n bytes, in dst's family.
func ipUDPHeader(h []byte, src, dst netip.AddrPort, n int) int {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	var off int
	if da.Is4() {
		clear(h[:20])
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+8+n))
		h[8], h[9] = 64, 17
		s4 := sa.As4() // an IPv6 source on an IPv4 socket cannot happen
		d4 := da.As4()
		copy(h[12:], s4[:])
		copy(h[16:], d4[:])
		off = 20
	} else {
		clear(h[:40])
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(8+n))
		h[6], h[7] = 17, 64
		s16, d16 := src.Addr().As16(), da.As16()
		copy(h[8:], s16[:])
		copy(h[24:], d16[:])
		off = 40
	}
	u := h[off : off+8]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+n))
	u[6], u[7] = 0, 0
	return off + 8
}

// SDP notes an SDP the daemon sent, as rtpengine's metadata has it: the
// sending party's label (if any), when that party was created, "offer" or
// "answer", and the number of the next packet to be recorded.
func (r *Recording) SDP(label string, started time.Time, mode, body string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	var b strings.Builder
	if label != "" {
		fmt.Fprintf(&b, "\nLabel: %s", label)
	}
	fmt.Fprintf(&b, "\nTimestamp started ms: %.3f\nSDP mode: %s\nSDP before RTP packet: %d\n\n%s",
		ms(started), mode, r.num, body)
	if _, err := r.meta.WriteString(b.String()); err != nil {
		return fmt.Errorf("metadata file %s: %w", r.metaTmp, err)
	}
	return nil
}

// ms is a time as rtpengine prints timevals: milliseconds with three
// decimals (0.000 for none).
func ms(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())*1000 + float64(t.Nanosecond()/1000)/1000
}

// Finish ends the recording: the pcap file is flushed and closed, and the
// metadata file gets the first party's termination time (zero: not
// terminated), the call's start and end in local time and the call's
// metadata, and moves to metadata/. Later calls do nothing.
func (r *Recording) Finish(terminated, start, end time.Time, metadata string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	const stamp = "2006-01-02T15:04:05"
	var b strings.Builder
	fmt.Fprintf(&b, "\nTimestamp terminated ms(first monologue): %.3f", ms(terminated))
	fmt.Fprintf(&b, "\n\ncall start time: %s\n", start.Local().Format(stamp))
	fmt.Fprintf(&b, "call end time: %s\n", end.Local().Format(stamp))
	if metadata != "" {
		fmt.Fprintf(&b, "\n\n%s\n", metadata)
	}
	_, errMeta := r.meta.WriteString(b.String())
	errs := []error{errMeta, r.meta.Close()}
	if errMeta == nil {
		errs = append(errs, os.Rename(r.metaTmp, r.metaDone))
	}
	errs = append(errs, r.w.Flush(), r.pcap.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("recording %s: %w", r.path, err)
	}
	if r.failed {
		return fmt.Errorf("recording %s: a packet could not be written", r.path)
	}
	return nil
}
