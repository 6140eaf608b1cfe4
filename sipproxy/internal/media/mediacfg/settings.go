package mediacfg

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"sipmedia/ngproto"
)

// Settings are the media step's configuration keys (flags and config-file
// keys alike). The zero value has no backend: media control is off.
type Settings struct {
	// Socks are --rtpengine-sock values: udp:IP:PORT[=WEIGHT].
	Socks []string
	// Timeout is the wait per try and Retries the tries per request
	// (the modules' rtpengine_tout_ms and rtpengine_retr).
	Timeout time.Duration
	Retries int
	// PingInterval is how often every backend is pinged (health).
	PingInterval time.Duration
	Matrix       Matrix
}

// DefaultSettings are the rtpengine modules' defaults and the default matrix.
func DefaultSettings() Settings {
	return Settings{Timeout: time.Second, Retries: 5, PingInterval: 10 * time.Second, Matrix: DefaultMatrix()}
}

type socks []string

func (s *socks) String() string     { return strings.Join(*s, ",") }
func (s *socks) Set(v string) error { *s = append(*s, v); return nil }

// AddFlags registers the media keys on fs, storing into st (which should
// start as DefaultSettings). --rtpengine-sock is repeatable.
func AddFlags(fs *flag.FlagSet, st *Settings) {
	fs.Var((*socks)(&st.Socks), "rtpengine-sock", "NG control socket of a media daemon, udp:IP:PORT[=WEIGHT] (repeatable; none: no media control)")
	fs.DurationVar(&st.Timeout, "rtpengine-timeout", st.Timeout, "wait per NG try (rtpengine_tout_ms)")
	fs.IntVar(&st.Retries, "rtpengine-retries", st.Retries, "NG tries per request (rtpengine_retr)")
	fs.DurationVar(&st.PingInterval, "rtpengine-ping-interval", st.PingInterval, "health ping interval per media daemon")
	for s := 0; s < 2; s++ {
		for d := 0; d < 2; d++ {
			n := cellName(s, d)
			fs.StringVar(&st.Matrix.Offer[s][d], "rtpengine-offer-"+n, st.Matrix.Offer[s][d],
				"rtpengine_offer flags when "+describe(s, d))
			fs.StringVar(&st.Matrix.Answer[s][d], "rtpengine-answer-"+n, st.Matrix.Answer[s][d],
				"rtpengine_answer flags when "+describe(s, d))
		}
	}
}

func describe(s, d int) string {
	f := [2]string{"!", ""}
	return f[s] + "SRC_WS && " + f[d] + "DST_WS"
}

// ParseSock parses one rtpengine_sock value: udp:IP:PORT[=WEIGHT] (the
// "udp:" is optional; IPv6 in brackets).
func ParseSock(s string) (ngproto.Backend, error) {
	v := strings.TrimSpace(s)
	w := 1
	if i := strings.LastIndexByte(v, '='); i >= 0 {
		n, err := strconv.Atoi(v[i+1:])
		if err != nil || n <= 0 {
			return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: bad weight", s)
		}
		w, v = n, v[:i]
	}
	if p, rest, ok := strings.Cut(v, ":"); ok && strings.EqualFold(p, "udp") {
		v = rest
	} else if ok && (strings.EqualFold(p, "udp6") || strings.EqualFold(p, "tcp")) {
		return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: only udp is supported", s)
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: %q is not an IP address", s, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: bad port", s)
	}
	return ngproto.Backend{Addr: net.JoinHostPort(host, port), Weight: w}, nil
}

// Validate checks the sockets and the flag strings.
func (st Settings) Validate() error {
	for _, s := range st.Socks {
		if _, err := ParseSock(s); err != nil {
			return err
		}
	}
	if st.Timeout <= 0 || st.Retries <= 0 {
		return fmt.Errorf("rtpengine-timeout and rtpengine-retries must be positive")
	}
	_, err := st.Matrix.Compile()
	return err
}
