package control

import (
	"testing"
	"time"

	"sipmedia/ngproto"
)

// TestDTMFCode: the code or digit key as rtpengine 10.5 reads it: an
// integer 0-15, a digit character (as a string or as its code), a
// number in a string; anything else is out of range.
func TestDTMFCode(t *testing.T) {
	for _, c := range []struct {
		d    ngproto.Dict
		want int
	}{
		{ngproto.Dict{"code": int64(5)}, 5},
		{ngproto.Dict{"digit": "5"}, 5},
		{ngproto.Dict{"digit": "#"}, 11},
		{ngproto.Dict{"digit": "*"}, 10},
		{ngproto.Dict{"code": "D"}, 15},
		{ngproto.Dict{"digit": "12"}, 12},
		{ngproto.Dict{"code": int64('7')}, 7},
		{ngproto.Dict{"digit": "a"}, -1},
		{ngproto.Dict{"code": int64(16)}, -1},
		{ngproto.Dict{"code": int64(-3)}, -1},
		{ngproto.Dict{"code": int64(1 << 40)}, -1},
		{ngproto.Dict{"digit": ""}, -1},
		{ngproto.Dict{}, -1},
	} {
		if got := dtmfCode(c.d); got != c.want {
			t.Errorf("%v: code %d, want %d", c.d, got, c.want)
		}
	}
}

// TestClampMs: durations and pauses default when absent or zero and
// stay within 100 ms and 5 s, as rtpengine clamps them.
func TestClampMs(t *testing.T) {
	for _, c := range []struct {
		d    ngproto.Dict
		want time.Duration
	}{
		{ngproto.Dict{}, 250 * time.Millisecond},
		{ngproto.Dict{"duration": int64(0)}, 250 * time.Millisecond},
		{ngproto.Dict{"duration": int64(40)}, 100 * time.Millisecond},
		{ngproto.Dict{"duration": "400"}, 400 * time.Millisecond},
		{ngproto.Dict{"duration": int64(9000)}, 5 * time.Second},
		{ngproto.Dict{"duration": int64(-5)}, 100 * time.Millisecond},
	} {
		if got := clampMs(c.d, "duration", 250); got != c.want {
			t.Errorf("%v: %v, want %v", c.d, got, c.want)
		}
	}
}
