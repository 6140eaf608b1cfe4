package media

import (
	"testing"

	"sipmedia/ngproto"
)

func TestAddFamily(t *testing.T) {
	v4 := []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
	v6 := []byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
	for _, tc := range []struct {
		name  string
		flags ngproto.Dict
		to    string
		sdp   []byte
		want  any // the address-family key, nil: not set
	}{
		{"same family", nil, "127.0.0.1:5060", v4, nil},
		{"IPv6 SDP to an IPv4 party", nil, "127.0.0.1:5060", v6, "IP4"},
		{"IPv4 SDP to an IPv6 party", nil, "[::1]:5060", v4, "IP6"},
		{"bare IPv6 host", nil, "::1", v4, "IP6"},
		{"IPv4-mapped counts as IPv4", nil, "[::ffff:127.0.0.1]:5060", v6, "IP4"},
		{"configured family wins", ngproto.Dict{"address-family": "IP6"}, "127.0.0.1:5060", v6, "IP6"},
		{"configured family wins (OpenSIPS key)", ngproto.Dict{"address family": "IP6"}, "127.0.0.1:5060", v6, nil},
		{"not an address", nil, "df7jal23ls0d.invalid:5060", v6, nil},
		{"no c= line", nil, "127.0.0.1:5060", []byte("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ng := ngproto.Dict{}
			for k, v := range tc.flags {
				ng[k] = v
			}
			addFamily(ng, tc.to, tc.sdp)
			if got := ng["address-family"]; got != tc.want {
				t.Errorf("address-family %v, want %v", got, tc.want)
			}
		})
	}
}
