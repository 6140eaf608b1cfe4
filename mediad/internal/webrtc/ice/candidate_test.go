package ice

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseCandidate(t *testing.T) {
	tests := []struct {
		in      string
		want    Candidate
		wantErr bool
	}{
		{in: "1467250027 1 udp 2122260223 192.0.2.7 46000 typ host generation 0 network-id 1",
			want: Candidate{Foundation: "1467250027", Component: 1, Transport: "udp", Priority: 2122260223, Host: "192.0.2.7", Port: 46000,
				Addr: netip.MustParseAddrPort("192.0.2.7:46000"), Type: "host", Extensions: []string{"generation", "0", "network-id", "1"}}},
		{in: "candidate:RVuHl1oI0xT5YsfJ 1 UDP 16777215 127.0.0.1 47000 typ relay raddr 127.0.0.1 rport 47000",
			want: Candidate{Foundation: "RVuHl1oI0xT5YsfJ", Component: 1, Transport: "UDP", Priority: 16777215, Host: "127.0.0.1", Port: 47000,
				Addr: netip.MustParseAddrPort("127.0.0.1:47000"), Type: "relay", RelAddr: "127.0.0.1", RelPort: 47000}},
		{in: "V3xmcAMU1TIG8ywn 2 UDP 2130706174 ::1 47033 typ host",
			want: Candidate{Foundation: "V3xmcAMU1TIG8ywn", Component: 2, Transport: "UDP", Priority: 2130706174, Host: "::1", Port: 47033,
				Addr: netip.MustParseAddrPort("[::1]:47033"), Type: "host"}},
		{in: "2 1 udp 2113937151 3a8c5d2e-1b0f-4c1e-9d34-4b8a.local 54321 typ host",
			want: Candidate{Foundation: "2", Component: 1, Transport: "udp", Priority: 2113937151, Host: "3a8c5d2e-1b0f-4c1e-9d34-4b8a.local", Port: 54321, Type: "host"}},
		{in: "1 1 udp 1 1.2.3.4 5 type host", wantErr: true},
		{in: "1 0 udp 1 1.2.3.4 5 typ host", wantErr: true},
		{in: "1 1 udp x 1.2.3.4 5 typ host", wantErr: true},
		{in: "1 1 udp 1 not-an-ip 5 typ host", wantErr: true},
		{in: "1 1 udp 1 1.2.3.4 70000 typ host", wantErr: true},
		{in: "1 1 udp 1 1.2.3.4 5 typ host raddr", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseCandidate(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrBadCandidate) {
				t.Errorf("%q: err %v, want ErrBadCandidate", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got.String() != tt.want.String() || got.Addr != tt.want.Addr || got.Port != tt.want.Port {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestRtpenginePriorities(t *testing.T) {
	// Values rtpengine 10.5 prints for two addresses and two components.
	for _, tt := range []struct {
		got, want uint32
	}{
		{HostPriority(0, 1), 2130706431}, {HostPriority(1, 1), 2130706175},
		{HostPriority(0, 2), 2130706430}, {HostPriority(1, 2), 2130706174},
		{RelayPriority(0, 1), 16777215}, {RelayPriority(1, 1), 16776959},
		{RelayPriority(0, 2), 16777214},
	} {
		if tt.got != tt.want {
			t.Errorf("priority %d, want %d", tt.got, tt.want)
		}
	}
}

func TestCandidateFormat(t *testing.T) {
	c := Candidate{Foundation: Foundation(netip.MustParseAddr("203.0.113.1"), TypeHost), Component: 1, Transport: "UDP",
		Priority: HostPriority(0, 1), Addr: netip.MustParseAddrPort("203.0.113.1:30000"), Type: TypeHost}
	want := c.Foundation + " 1 UDP 2130706431 203.0.113.1 30000 typ host"
	if c.String() != want {
		t.Fatalf("got %q want %q", c.String(), want)
	}
	if len(c.Foundation) != 16 {
		t.Fatalf("foundation %q not 16 chars", c.Foundation)
	}
	back, err := ParseCandidate(c.String())
	if err != nil || back.String() != want {
		t.Fatalf("round trip: %v %q", err, back.String())
	}
}

func TestNewCredentials(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		c, err := NewCredentials()
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Ufrag) != UfragLen || len(c.Pwd) != PwdLen {
			t.Fatalf("lengths %d/%d", len(c.Ufrag), len(c.Pwd))
		}
		for _, r := range c.Ufrag + c.Pwd {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				t.Fatalf("non-alphanumeric %q", c)
			}
		}
		if seen[c.Ufrag] {
			t.Fatalf("repeated ufrag %q", c.Ufrag)
		}
		seen[c.Ufrag] = true
	}
}

func FuzzParseCandidate(f *testing.F) {
	for _, s := range []string{
		"1467250027 1 udp 2122260223 192.0.2.7 46000 typ host generation 0 network-id 1",
		"RVuHl1oI0xT5YsfJ 1 UDP 16777215 127.0.0.1 47000 typ relay raddr 127.0.0.1 rport 47000",
		"x 2 tcp 1 ::1 9 typ host tcptype active",
		"2 1 udp 1 abc.local 5 typ host",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCandidate(s)
		if err != nil {
			return
		}
		// A parsed candidate must survive its own formatting.
		if _, err := ParseCandidate(c.String()); err != nil {
			t.Fatalf("reparse of %q (%q): %v", s, c.String(), err)
		}
	})
}
