package homer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestRTCPJSON(t *testing.T) {
	sr := []byte{0x80, 200, 0, 6, 0, 0, 0, 9}
	for _, v := range []uint32{1, 2, 3, 4, 5} {
		sr = binary.BigEndian.AppendUint32(sr, v)
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want string // "" = nothing sent
	}{
		{"SR without blocks", sr, `{ "sender_information":{"ntp_timestamp_sec":1,"ntp_timestamp_usec":2,"octets":5,"rtp_timestamp":3, "packets":4},"ssrc":9,"type":200,"report_count":0,"report_blocks":[] }`},
		{"SR then a bad version", append(append([]byte{}, sr...), 0x40, 201, 0, 1, 0, 0, 0, 1), `{ "sender_information":{"ntp_timestamp_sec":1,"ntp_timestamp_usec":2,"octets":5,"rtp_timestamp":3, "packets":4},"ssrc":9,"type":200,"report_count":0,"report_blocks":[] }`},
		{"short SR", sr[:24], ""},
		{"length past the end", []byte{0x80, 201, 0, 9, 0, 0, 0, 1}, ""},
		{"RR counting a block it lacks", []byte{0x81, 201, 0, 1, 0, 0, 0, 1}, ""},
		{"unknown type", []byte{0x80, 210, 0, 1, 0, 0, 0, 1}, ""},
		{"empty SDES", []byte{0x80, 202, 0, 0}, `{ "sdes_report_count":0,"sdes_information": [] }`},
		{"SDES item cut short", []byte{0x81, 202, 0, 2, 0, 0, 0, 5, 1, 9, 'a', 'b'}, `{ "sdes_report_count":1,"sdes_information": [] }`},
		{"not RTCP", []byte("hello"), ""},
		{"empty", nil, ""},
	} {
		js, ok := RTCPJSON(tc.pkt)
		if ok != (tc.want != "") || ok && string(js) != tc.want {
			t.Errorf("%s: %v %s\nwant %s", tc.name, ok, js, tc.want)
		}
	}
}

func TestHEP3(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:4001"), netip.MustParseAddrPort("127.0.0.1:30001")
	b := HEP3(2001, "call", src, dst, time.Unix(1700000000, 123456789), []byte("{}"))
	want := "HEP3\x00\x6f" +
		"\x00\x00\x00\x01\x00\x07\x02" + "\x00\x00\x00\x02\x00\x07\x11" +
		"\x00\x00\x00\x07\x00\x08\x0f\xa1" + "\x00\x00\x00\x08\x00\x08\x75\x31" +
		"\x00\x00\x00\x09\x00\x0a\x65\x53\xf1\x00" + "\x00\x00\x00\x0a\x00\x0a\x00\x01\xe2\x40" +
		"\x00\x00\x00\x0b\x00\x07\x05" + "\x00\x00\x00\x0c\x00\x0a\x00\x00\x07\xd1" +
		"\x00\x00\x00\x03\x00\x0a\xc0\x00\x02\x01" + "\x00\x00\x00\x04\x00\x0a\x7f\x00\x00\x01" +
		"\x00\x00\x00\x11\x00\x0a" + "call" + "\x00\x00\x00\x0f\x00\x08{}"
	if string(b) != want {
		t.Errorf("%x\nwant %x", b, want)
	}
	b6 := HEP3(1, "c", netip.MustParseAddrPort("[2001:db8::1]:5"), netip.MustParseAddrPort("[::1]:6"), time.Unix(0, 0), nil)
	if b6[12] != 10 || len(b6) != 6+7+7+8+8+10+10+7+10+22+22+7+6 {
		t.Errorf("IPv6: %x", b6)
	}
}

// TestSender: reports reach a UDP server in order; a full queue drops
// instead of blocking the packet path.
func TestSender(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := NewSender(srv.LocalAddr().String(), "udp", 5, nil)
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 42}
	src, dst := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.1:2000")
	for range queueLen + 50 {
		s.RTCP("c1", src, dst, rr, time.Now().UnixNano()) // nobody sends yet: the rest is dropped
	}
	if s.dropped.Load() != 50 {
		t.Errorf("dropped %d, want 50", s.dropped.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	buf := make([]byte, 2048)
	for i := range queueLen {
		_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := srv.Read(buf)
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if string(buf[:4]) != "HEP3" || n < 50 {
			t.Fatalf("report %d: %x", i, buf[:n])
		}
	}
}

// FuzzRTCPJSON: any datagram renders without a panic, and what would be
// sent is valid JSON.
func FuzzRTCPJSON(f *testing.F) {
	f.Add([]byte{0x81, 202, 0, 2, 0, 0, 0, 5, 1, 2, 'a', 'b'})
	f.Add([]byte{0x81, 200, 0, 12, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
		0, 0, 0, 7, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 203, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if js, ok := RTCPJSON(pkt); ok && !json.Valid(js) {
			t.Fatalf("%x: invalid JSON %s", pkt, js)
		}
	})
}

// TestSenderTCP: over TCP the HEP packets follow each other on one
// connection, and a dropped connection is made again.
func TestSenderTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := NewSender(ln.Addr().String(), "tcp", 5, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 42}
	src, dst := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.1:2000")
	readHEP := func(c net.Conn) string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		head := make([]byte, 6)
		if _, err := io.ReadFull(c, head); err != nil {
			t.Fatalf("no HEP packet: %v", err)
		}
		rest := make([]byte, int(binary.BigEndian.Uint16(head[4:]))-6)
		if _, err := io.ReadFull(c, rest); err != nil {
			t.Fatal(err)
		}
		return string(head[:4])
	}
	s.RTCP("c1", src, dst, rr, time.Now().UnixNano())
	s.RTCP("c1", src, dst, rr, time.Now().UnixNano())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if readHEP(c) != "HEP3" {
			t.Fatalf("packet %d is not HEP3", i)
		}
	}
	c.Close()
	// The write after the close fails sooner or later; then the next
	// report connects again.
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	deadline := time.After(5 * time.Second)
	for {
		s.RTCP("c1", src, dst, rr, time.Now().UnixNano())
		select {
		case c2 := <-accepted:
			defer c2.Close()
			if readHEP(c2) != "HEP3" {
				t.Fatal("not HEP3 after reconnecting")
			}
			return
		case <-deadline:
			t.Fatal("no new connection")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
