package recording

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := Open(dir+"/", "pcap", "raw")
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir %q, want %q (no trailing slash)", s.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory: %v %v, want mode 0700", fi, err)
	}
	for _, sub := range []string{"metadata", "pcaps", "tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", sub, err)
		}
	}
	if _, err := Open(dir, "pcap", "raw"); err != nil {
		t.Errorf("reopening an existing spool: %v", err)
	}
	if _, err := Open(dir, "proc", "raw"); !errors.Is(err, ErrMethod) {
		t.Errorf("proc method: %v, want ErrMethod", err)
	}
	if _, err := Open(dir, "pcap", "pcapng"); !errors.Is(err, ErrFormat) {
		t.Errorf("format pcapng: %v, want ErrFormat", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, "pcap", "raw"); err == nil {
		t.Error("a file as spool directory was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "pcaps")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pcaps"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "pcap", "raw"); err == nil {
		t.Error("a file as pcaps/ was accepted")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"abc-1.2_3~": "abc-1.2_3~",
		"a@b/c d":    "a%40b%2Fc%20d",
		"ü%":         "%C3%BC%25",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// record is one pcap record.
type record struct {
	at   time.Time
	data []byte
}

func readPcap(t *testing.T, file string) (link uint32, recs []record) {
	t.Helper()
	d, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) < 24 || binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(d[16:]) != 65535 {
		t.Fatalf("pcap header % x", d[:min(24, len(d))])
	}
	for off := 24; off < len(d); {
		n := int(binary.LittleEndian.Uint32(d[off+8:]))
		if binary.LittleEndian.Uint32(d[off+12:]) != uint32(n) || off+16+n > len(d) {
			t.Fatalf("record at %d: % x", off, d[off:min(off+16, len(d))])
		}
		at := time.Unix(int64(binary.LittleEndian.Uint32(d[off:])), int64(binary.LittleEndian.Uint32(d[off+4:]))*1000)
		recs = append(recs, record{at, d[off+16 : off+16+n]})
		off += 16 + n
	}
	return binary.LittleEndian.Uint32(d[20:]), recs
}

func TestRecordingRaw(t *testing.T) {
	s, err := Open(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Start("call@x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(r.Path()), "call%40x-") || filepath.Dir(r.Path()) != filepath.Join(s.Dir(), "pcaps") {
		t.Errorf("path %q", r.Path())
	}
	started := time.Unix(1700000000, 123456789)
	if err := r.SDP("caller", started, "offer", "v=0\r\n"); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000001, 500000000).UnixNano()
	v4a, v4b := netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("198.51.100.2:30000")
	r.Packet(v4a, v4b, []byte{0x80, 0, 1, 2}, at)
	v6a, v6b := netip.MustParseAddrPort("[2001:db8::1]:5002"), netip.MustParseAddrPort("[2001:db8::2]:30002")
	r.Packet(v6a, v6b, []byte{0x80, 0, 3, 4, 5}, at+1000)
	// An IPv4 peer on a dual-stack IPv6 socket: IPv6 headers with the
	// mapped source.
	r.Packet(netip.MustParseAddrPort("[::ffff:192.0.2.1]:5000"), v6b, []byte{1}, at)
	if err := r.SDP("", started, "answer", "v=0\r\nm=x\r\n"); err != nil {
		t.Fatal(err)
	}
	created, ended := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local), time.Date(2026, 1, 2, 3, 5, 6, 0, time.Local)
	if err := r.Finish(time.Time{}, created, ended, "k=v"); err != nil {
		t.Fatal(err)
	}
	r.Packet(v4a, v4b, []byte{9}, at) // after Finish: ignored
	if err := r.Finish(time.Time{}, created, ended, "k=v"); err != nil {
		t.Errorf("second Finish: %v", err)
	}

	link, recs := readPcap(t, r.Path())
	if link != linkRaw || len(recs) != 3 {
		t.Fatalf("link type %d, %d records; want 101 and 3", link, len(recs))
	}
	want4 := []byte{0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
		0x13, 0x88, 0x75, 0x30, 0, 12, 0, 0, 0x80, 0, 1, 2}
	if string(recs[0].data) != string(want4) || !recs[0].at.Equal(time.Unix(1700000001, 500000000)) {
		t.Errorf("IPv4 record at %v:\n% x\nwant\n% x", recs[0].at, recs[0].data, want4)
	}
	v6 := recs[1].data
	if len(v6) != 40+8+5 || v6[0] != 0x60 || binary.BigEndian.Uint16(v6[4:]) != 13 || v6[6] != 17 || v6[7] != 64 ||
		netip.AddrFrom16([16]byte(v6[8:24])) != v6a.Addr() || netip.AddrFrom16([16]byte(v6[24:40])) != v6b.Addr() ||
		binary.BigEndian.Uint16(v6[40:]) != 5002 || binary.BigEndian.Uint16(v6[42:]) != 30002 || binary.BigEndian.Uint16(v6[44:]) != 13 {
		t.Errorf("IPv6 record:\n% x", v6)
	}
	if m := recs[2].data; len(m) != 49 || m[0] != 0x60 || netip.AddrFrom16([16]byte(m[8:24])).String() != "::ffff:192.0.2.1" {
		t.Errorf("mapped IPv4 source on an IPv6 socket:\n% x", m)
	}

	meta, err := os.ReadFile(filepath.Join(s.Dir(), "metadata", "rtpengine-meta-"+strings.TrimSuffix(filepath.Base(r.Path()), ".pcap")+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := r.Path() + "\n\n" +
		"\nLabel: caller\nTimestamp started ms: 1700000000123.456\nSDP mode: offer\nSDP before RTP packet: 1\n\nv=0\r\n" +
		"\nTimestamp started ms: 1700000000123.456\nSDP mode: answer\nSDP before RTP packet: 4\n\nv=0\r\nm=x\r\n" +
		"\nTimestamp terminated ms(first monologue): 0.000\n\ncall start time: 2026-01-02T03:04:05\ncall end time: 2026-01-02T03:05:06\n" +
		"\n\nk=v\n"
	if string(meta) != wantMeta {
		t.Errorf("metadata:\n%q\nwant\n%q", meta, wantMeta)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ still holds %v", tmp)
	}
}

func TestRecordingEthernet(t *testing.T) {
	s, err := Open(t.TempDir(), "pcap", "eth")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Start("c")
	if err != nil {
		t.Fatal(err)
	}
	r.Packet(netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("192.0.2.2:6000"), []byte{1, 2}, 1e9)
	r.Packet(netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::2]:6000"), []byte{1, 2}, 1e9)
	if err := r.Finish(time.Now(), time.Now(), time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	link, recs := readPcap(t, r.Path())
	if link != linkEthernet || len(recs) != 2 {
		t.Fatalf("link type %d, %d records; want 1 and 2", link, len(recs))
	}
	for i, want := range []struct {
		etherType uint16
		n         int
	}{{0x0800, 14 + 28 + 2}, {0x86dd, 14 + 48 + 2}} {
		d := recs[i].data
		if len(d) != want.n || string(d[:12]) != string(make([]byte, 12)) || binary.BigEndian.Uint16(d[12:]) != want.etherType {
			t.Errorf("record %d:\n% x", i, d)
		}
	}
}

// TestPacketAllocs: the relay calls Packet per packet of a recorded call.
func TestPacketAllocs(t *testing.T) {
	s, err := Open(t.TempDir(), "pcap", "raw")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Start("c")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Finish(time.Time{}, time.Now(), time.Now(), "")
	src, dst := netip.MustParseAddrPort("192.0.2.1:5000"), netip.MustParseAddrPort("192.0.2.2:6000")
	pkt := make([]byte, 172)
	if n := testing.AllocsPerRun(1000, func() { r.Packet(src, dst, pkt, time.Now().UnixNano()) }); n != 0 {
		t.Errorf("Packet allocates %v times", n)
	}
}

func TestStartFails(t *testing.T) {
	s, err := Open(t.TempDir(), "pcap", "raw")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.Dir(), "pcaps")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("c"); err == nil {
		t.Fatal("Start without pcaps/ succeeded")
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(tmp) != 0 {
		t.Errorf("a failed start left %v in tmp/", tmp)
	}
}
