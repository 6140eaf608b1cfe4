package rtcp

import (
	"strings"
	"testing"
)

func TestLogLine(t *testing.T) {
	sr := []byte{0x80, 200, 0, 6, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5}
	// XR with a statistics block: begin 0x0102, end 0x0304, ToH 1 2 3 4.
	xr := []byte{0x80, 207, 0, 11, 0, 0, 0, 9,
		6, 0, 0, 9, 0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 2,
		0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 1, 2, 3, 4}
	for _, tc := range []struct {
		name  string
		pkt   []byte
		want  string // "" = no line
		valid bool
	}{
		{"SR", sr, "[c] version=2, padding=0, count=0, payloadtype=200, length=6, ssrc=9, ntp_sec=1, ntp_fractions=2, rtp_ts=3, sender_packets=4, sender_bytes=5", true},
		{"XR statistics", xr, "[c] version=2, padding=0, count=0, payloadtype=207, length=11, ssrc=9, rb_header_blocktype=6, " +
			"rb_header_blockspecdata=0, rb_header_blocklength=9, rb_stats_ssrc=7, rb_stats_begin_seq=258, rb_stats_end_seq=50593792, " +
			"rb_stats_lost_packets=1, rb_stats_duplicate_packets=2,rb_stats_jitter_min=3, rb_stats_jitter_max=4, rb_stats_jitter_mean=5, " +
			"rb_stats_jitter_deviation=6,rb_stats_toh_min=16777216, rb_stats_toh_max=33554432, rb_stats_toh_mean=50331648, rb_stats_toh_deviation=67108864", true},
		{"XR rr time", []byte{0x80, 207, 0, 4, 0, 0, 0, 9, 4, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2},
			"[c] version=2, padding=0, count=0, payloadtype=207, length=4, ssrc=9, rb_header_blocktype=4, rb_header_blockspecdata=0, " +
				"rb_header_blocklength=2, rb_rr_time_ntp_sec=16777216, rb_rr_time_ntp_frac=33554432", true},
		{"SR then a bad version", append(append([]byte{}, sr...), 0x40, 201, 0, 1, 0, 0, 0, 1),
			"[c] version=2, padding=0, count=0, payloadtype=200, length=6, ssrc=9, ntp_sec=1, ntp_fractions=2, rtp_ts=3, sender_packets=4, sender_bytes=5", false},
		{"short SR", sr[:24], "", true}, // the length runs past the end: the walk ends, no failure
		{"SR shorter than its type", []byte{0x80, 200, 0, 1, 0, 0, 0, 1}, "", false},
		{"RR counting a block it lacks", []byte{0x81, 201, 0, 1, 0, 0, 0, 1}, "", false},
		{"BYE", []byte{0x81, 203, 0, 1, 0, 0, 0, 1}, "", true},
		{"unknown type", []byte{0x80, 210, 0, 1, 0, 0, 0, 1}, "", true},
		{"not RTCP, its length past the end", []byte("hello"), "", true},
		{"not RTCP, version 1", []byte("hi\x00\x00"), "", false},
		{"empty", nil, "", true},
	} {
		line, ok := LogLine("c", tc.pkt)
		if ok != (tc.want != "") || ok && string(line) != tc.want {
			t.Errorf("%s: %v %q\nwant %q", tc.name, ok, line, tc.want)
		}
		if v := Valid(tc.pkt); v != tc.valid {
			t.Errorf("%s: Valid %v, want %v", tc.name, v, tc.valid)
		}
	}
}

// FuzzLogLine: any datagram gives a line or none without a panic, and a
// line is the call's prefix and fields.
func FuzzLogLine(f *testing.F) {
	f.Add([]byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 3, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8})
	f.Add([]byte{0x81, 202, 0, 3, 0, 0, 0, 5, 1, 2, 'a', 'b', 0, 0, 0, 0})
	f.Add([]byte{0x80, 207, 0, 4, 0, 0, 0, 9, 4, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{0x80, 207, 0, 10, 0, 0, 0, 9, 7, 0, 0, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		line, ok := LogLine("call", pkt)
		if ok && (!strings.HasPrefix(string(line), "[call] ") || !strings.Contains(string(line), "=")) {
			t.Fatalf("line %q", line)
		}
		_ = Valid(pkt)
	})
}
