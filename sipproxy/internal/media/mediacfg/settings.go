package mediacfg

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"sipmedia/ngproto"
)

// Settings are the media step's configuration keys (flags and config-file
// keys alike). The zero value has no backend: media control is off.
type Settings struct {
	// Socks are --rtpengine-sock values: [udp:|udp6:]HOST:PORT[=WEIGHT],
	// or ws://HOST:PORT/[PATH][=WEIGHT] and wss://...
	Socks []string
	// Timeout is the wait per try and Retries the tries per request
	// (the modules' rtpengine_tout_ms and rtpengine_retr).
	Timeout time.Duration
	Retries int
	// PingInterval is how often every backend is pinged (health).
	PingInterval time.Duration
	// CAFile is a PEM bundle trusted for wss:// daemons ("": the
	// system's roots).
	CAFile string
	Matrix Matrix
	// InfoDTMF is what becomes of SIP INFO DTMF (application/dtmf-relay,
	// application/dtmf) within a call: "relay" forwards it; "inject" has
	// the media daemon play the digit into the sender's audio (play
	// DTMF, calls set up with inject-DTMF), heard by the other party as
	// RFC 4733 events or tones, and answers the INFO itself ("": relay).
	InfoDTMF string
}

// InfoDTMF values.
const (
	InfoDTMFRelay  = "relay"
	InfoDTMFInject = "inject"
)

// DefaultSettings are the rtpengine modules' defaults and the default matrix.
func DefaultSettings() Settings {
	return Settings{Timeout: time.Second, Retries: 5, PingInterval: 10 * time.Second, Matrix: DefaultMatrix(), InfoDTMF: InfoDTMFRelay}
}

type socks []string

func (s *socks) String() string { return strings.Join(*s, ",") }

// Set takes one value or, as the modules' rtpengine_sock does, several
// separated by spaces.
func (s *socks) Set(v string) error {
	if strings.Contains(v, "==") {
		return fmt.Errorf("rtpengine-sock %q: sets (N == ...) are not supported, list the sockets of the one set", v)
	}
	*s = append(*s, strings.Fields(v)...)
	return nil
}

// AddFlags registers the media keys on fs, storing into st (which should
// start as DefaultSettings). --rtpengine-sock is repeatable.
func AddFlags(fs *flag.FlagSet, st *Settings) {
	fs.Var((*socks)(&st.Socks), "rtpengine-sock", "NG control socket of a media daemon, udp:IP:PORT[=WEIGHT] or udp6:[IP]:PORT[=WEIGHT], a host name resolved at startup, or ws://HOST:PORT/[=WEIGHT] and wss://... for NG over a WebSocket (repeatable; none: no media control)")
	fs.DurationVar(&st.Timeout, "rtpengine-timeout", st.Timeout, "wait per NG try (rtpengine_tout_ms)")
	fs.IntVar(&st.Retries, "rtpengine-retries", st.Retries, "NG tries per request (rtpengine_retr)")
	fs.DurationVar(&st.PingInterval, "rtpengine-ping-interval", st.PingInterval, "health ping interval per media daemon")
	fs.StringVar(&st.CAFile, "rtpengine-ca", st.CAFile, "PEM certificates trusted for wss:// media daemons (default: the system's)")
	fs.StringVar(&st.InfoDTMF, "info-dtmf", st.InfoDTMF, "SIP INFO DTMF in a call: relay (forward it) or inject (the media daemon plays the digit into the sender's audio; calls are set up with inject-DTMF)")
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

// ParseSock parses one rtpengine_sock value as the Kamailio and OpenSIPS
// modules write it: [udp:|udp6:]HOST:PORT[=WEIGHT], IPv6 in brackets, or
// Kamailio's ws://HOST:PORT/[PATH] and wss://... (NG over a WebSocket). A
// UDP host name is resolved now, to IPv4 for udp: (and no prefix) and to
// IPv6 for udp6:, as the modules do at startup, so that a module's
// "udp:localhost:22222" works unchanged; a WebSocket URL's host is
// resolved at each connection.
func ParseSock(s string) (ngproto.Backend, error) {
	sk, err := splitSock(s)
	if err != nil {
		return ngproto.Backend{}, err
	}
	if sk.url != "" {
		return ngproto.Backend{Addr: sk.url, Weight: sk.weight}, nil
	}
	if net.ParseIP(sk.host) != nil {
		return ngproto.Backend{Addr: net.JoinHostPort(sk.host, sk.port), Weight: sk.weight}, nil
	}
	a, err := net.ResolveUDPAddr(sk.network, net.JoinHostPort(sk.host, sk.port))
	if err != nil {
		return ngproto.Backend{}, fmt.Errorf("rtpengine-sock %q: %w", s, err)
	}
	return ngproto.Backend{Addr: a.String(), Weight: sk.weight}, nil
}

// sock is an rtpengine_sock value taken apart, its host not yet resolved.
type sock struct {
	network, host, port string // network: udp4 or udp6
	url                 string // a ws:// or wss:// URL instead
	weight              int
}

// splitSock checks the syntax of one rtpengine_sock value without name
// lookups (Validate; ParseSock resolves once, when the driver opens).
func splitSock(s string) (sock, error) {
	v := strings.TrimSpace(s)
	sk := sock{network: "udp4", weight: 1}
	if i := strings.LastIndexByte(v, '='); i >= 0 {
		n, err := strconv.Atoi(v[i+1:])
		if err != nil || n <= 0 {
			return sock{}, fmt.Errorf("rtpengine-sock %q: bad weight", s)
		}
		sk.weight, v = n, v[:i]
	}
	if ngproto.IsWSAddr(v) {
		u, err := url.Parse(v)
		if err != nil || u.Hostname() == "" || u.User != nil {
			return sock{}, fmt.Errorf("rtpengine-sock %q: bad WebSocket URL", s)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
				return sock{}, fmt.Errorf("rtpengine-sock %q: bad port", s)
			}
		}
		sk.url = v
		return sk, nil
	}
	if p, rest, ok := strings.Cut(v, ":"); ok {
		switch strings.ToLower(p) {
		case "udp":
			v = rest
		case "udp6":
			sk.network, v = "udp6", rest
		case "unix", "tcp", "tls", "ws", "wss":
			return sock{}, fmt.Errorf("rtpengine-sock %q: only udp, udp6, ws:// and wss:// are supported", s)
		}
	}
	var err error
	if sk.host, sk.port, err = net.SplitHostPort(v); err != nil {
		return sock{}, fmt.Errorf("rtpengine-sock %q: %w", s, err)
	}
	if p, err := strconv.Atoi(sk.port); err != nil || p <= 0 || p > 65535 {
		return sock{}, fmt.Errorf("rtpengine-sock %q: bad port", s)
	}
	if ip := net.ParseIP(sk.host); ip != nil && sk.network == "udp6" && ip.To4() != nil {
		return sock{}, fmt.Errorf("rtpengine-sock %q: udp6 with an IPv4 address", s)
	}
	return sk, nil
}

// Validate checks the sockets' syntax and the flag strings.
func (st Settings) Validate() error {
	for _, s := range st.Socks {
		if _, err := splitSock(s); err != nil {
			return err
		}
	}
	if st.Timeout <= 0 || st.Retries <= 0 {
		return fmt.Errorf("rtpengine-timeout and rtpengine-retries must be positive")
	}
	if st.InfoDTMF != "" && st.InfoDTMF != InfoDTMFRelay && st.InfoDTMF != InfoDTMFInject {
		return fmt.Errorf("info-dtmf %q: want relay or inject", st.InfoDTMF)
	}
	_, err := st.Matrix.Compile()
	return err
}
