package webrtc_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v3"

	"sipmedia/mediad/internal/webrtc"
	"sipmedia/mediad/internal/webrtc/ice"
	"sipmedia/mediad/internal/webrtc/sdes"
)

// FuzzInbound throws arbitrary datagrams at an endpoint with ICE and SDES
// keys: anything may be dropped, nothing may panic, and a forwarded
// packet always lies within the buffer.
func FuzzInbound(f *testing.F) {
	creds := ice.Credentials{Ufrag: "abcdEFGH", Pwd: "0123456789abcdefghijklmnop"}
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.NewUsername("abcdEFGH:x"),
		stun.NewShortTermIntegrity(creds.Pwd), stun.Fingerprint).Raw)
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3})
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	offer, _ := sdes.Offer(sdes.Policy{Only: []string{"AES_CM_128_HMAC_SHA1_80"}})
	ours, theirs, _ := sdes.Answer(offer, sdes.Policy{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ep, err := webrtc.NewEndpoint(webrtc.Config{Writer: nopWriter{}, ICE: &webrtc.ICEConfig{Local: creds}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ep.SetSDES(ours, theirs); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(b)+64)
		copy(buf, b)
		out, fwd := ep.Inbound(buf, len(b), netip.MustParseAddrPort("127.0.0.1:4000"))
		if fwd && len(out) > len(b) {
			t.Fatalf("forwarded %d bytes from a %d byte datagram", len(out), len(b))
		}
		ep.Close()
	})
}

// FuzzParseRemote: arbitrary attribute values never panic.
func FuzzParseRemote(f *testing.F) {
	f.Add("candidate", "1 1 udp 2122260223 192.0.2.7 46000 typ host", "fingerprint", "sha-256 7B:8B")
	f.Add("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:GFdjT5d8Dk7gU1RUjN1Q2qklwdBvyPT/g726e1sa", "setup", "actpass")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		r, _ := webrtc.ParseRemote([]webrtc.Attr{{Name: n2, Value: v2}}, []webrtc.Attr{{Name: n1, Value: v1}, {Name: n2, Value: v2}})
		for _, c := range r.Candidates {
			if strings.Contains(c.String(), "\n") {
				t.Fatalf("candidate formats with a newline: %q", c.String())
			}
		}
	})
}
