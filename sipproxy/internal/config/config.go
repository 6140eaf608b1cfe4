// Package config owns sipproxy's settings: the command-line flags, the
// config file holding the same keys, and their validation. The command line
// wins over the file.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"sipmedia/sipproxy/internal/demo"
	"sipmedia/sipproxy/internal/media/mediacfg"
	"sipmedia/sipproxy/internal/natping"
	"sipmedia/sipproxy/internal/pike"
)

// Listen is one `listen=` line: proto:ip:port.
type Listen struct {
	Proto string // udp, tcp, tls, ws, wss
	IP    string
	Port  int
}

// Addr is ip:port.
func (l Listen) Addr() string { return net.JoinHostPort(l.IP, strconv.Itoa(l.Port)) }

func (l Listen) String() string { return l.Proto + ":" + l.Addr() }

// ParseListen parses "proto:ip:port" (IPv6 in brackets).
func ParseListen(s string) (Listen, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Listen{}, fmt.Errorf("listen %q: want proto:ip:port", s)
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return Listen{}, fmt.Errorf("listen %q: unknown protocol %q", s, proto)
	}
	host, portStr, err := net.SplitHostPort(rest)
	if err != nil {
		return Listen{}, fmt.Errorf("listen %q: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return Listen{}, fmt.Errorf("listen %q: %q is not an IP address", s, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return Listen{}, fmt.Errorf("listen %q: bad port %q", s, portStr)
	}
	return Listen{Proto: proto, IP: host, Port: port}, nil
}

// Config is the whole daemon configuration. The zero value is not usable;
// start from Default.
type Config struct {
	Listen         []Listen
	Domains        []string // extra names that are "myself"
	TLSCertificate string   // PEM file; empty: a self-signed one is generated
	TLSPrivateKey  string
	TLSVerifyPeers bool // verify certificates of TLS peers we connect to
	// RTPEngineSocks are the --rtpengine-sock values (copy of Media.Socks).
	RTPEngineSocks []string
	// Media holds the media step's keys (rtpengine-*): daemons, timeouts,
	// the SRC_WS x DST_WS flag strings.
	Media mediacfg.Settings
	// Demo: the demo softphone page (http-demo*).
	Demo demo.Settings

	FrTimeout    time.Duration // tm fr_timeout (5 s in the seed)
	FrInvTimeout time.Duration // tm fr_inv_timeout, Timer C (30 s in the seed)

	DefaultExpires int // registrar default_expires
	MinExpires     int // registrar min_expires (0: none)
	MaxExpires     int // registrar max_expires (0: unlimited)
	MaxContacts    int // registrar max_contacts per AOR (0: unlimited)

	// LocationFile keeps the location table across restarts (usrloc
	// db_mode 2 with a file): written every LocationSync when it
	// changed and at shutdown, read at start. Empty: memory only, as
	// the seed (db_mode 0).
	LocationFile string
	LocationSync time.Duration

	// AuthUsers is the subscriber file of digest authentication
	// ("user:password" or htdigest lines); empty: no authentication, as
	// the seed script.
	AuthUsers string

	// NATPing: keepalives or OPTIONS to UDP contacts (natping-*,
	// sipping*); off by default, as in the seed.
	NATPing natping.Settings

	// Pike: flood protection by source address (pike-*); off by
	// default, as in the seed.
	Pike pike.Settings

	WSOrigins     []string      // allowed Origin values for WS/WSS; empty: any
	WSIdleTimeout time.Duration // a WS connection silent this long is closed

	// GCPercent is the Go GC target used when GOGC is not set in the
	// environment; 400 by default. What is kept of finished transactions
	// lives outside the heap, so the live heap is small (about 11 MB at
	// 2000 calls/s) and at 100 the collector ran about six times a second.
	// In 14 interleaved pairs at 2000 calls/s, 400 cost less CPU per call
	// than 100 in 10 (about 5% on average, within a host noise of 30%),
	// as much in 1; 200 showed no gain and 800 lost. MemoryLimit (bytes,
	// 0: none) bounds the heap (unless GOMEMLIMIT is set).
	GCPercent   int
	MemoryLimit int64

	// Procs is how many threads run Go code at once (GOMAXPROCS) when
	// GOMAXPROCS is not set in the environment; 0: every CPU (Go's
	// default). Fewer cost a little less per message at moderate load (a
	// hand-off between goroutines can wake another thread, which is dear
	// on a virtual machine: about 0.57 ms of CPU per call on one thread of
	// 2 vCPUs, 0.60 on two, at 1000 calls/s), but cap the proxy: on one
	// thread bench-calls held 1600 calls/s beside mediad and sipp, on two
	// 2200.
	Procs int

	MaxMessageSize int // bigger messages are refused
	UDPMTU         int // sipgo's UDP send limit is raised to this
	UDPReadBuffer  int // SO_RCVBUF of UDP listeners (bytes, 0: system default)
	// OverloadWait: new INVITEs over UDP get 503 from an average wait of
	// datagrams in the socket of half this (a share growing with the
	// wait) to all of them at this wait (package overload); 0: never.
	// 300 ms keeps the admitted calls' wait under the UAs' first
	// retransmission (T1, 500 ms).
	OverloadWait time.Duration
	Mgmt         string // loopback HTTP address of the management API; empty: off
	LogLevel     string
}

// Default returns the seed's values.
func Default() Config {
	return Config{
		FrTimeout:      5 * time.Second,
		FrInvTimeout:   30 * time.Second,
		DefaultExpires: 3600,
		MinExpires:     60,
		LocationSync:   10 * time.Second,
		WSIdleTimeout:  120 * time.Second,
		MaxMessageSize: 32 * 1024,
		GCPercent:      400,
		UDPMTU:         65000,
		UDPReadBuffer:  4 << 20,
		OverloadWait:   300 * time.Millisecond,
		Mgmt:           "127.0.0.1:5099",
		LogLevel:       "info",
		Media:          mediacfg.DefaultSettings(),
		Demo:           demo.DefaultSettings(),
		Pike:           pike.DefaultSettings(),
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// Parse reads args (without the program name), then the config file if one
// is named, letting explicit flags win. out receives the usage text.
func Parse(args []string, out io.Writer) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("sipproxy", flag.ContinueOnError)
	fs.SetOutput(out)
	var listens, domains, origins multi
	fs.Var(&listens, "listen", "listener proto:ip:port, proto one of udp,tcp,tls,ws,wss (repeatable)")
	fs.Var(&domains, "domain", "domain or alias that is ours (repeatable)")
	mediacfg.AddFlags(fs, &cfg.Media)
	demo.AddFlags(fs, &cfg.Demo)
	natping.AddFlags(fs, &cfg.NATPing)
	pike.AddFlags(fs, &cfg.Pike)
	fs.Var(&origins, "ws-origin", "allowed WebSocket Origin (repeatable; none: any)")
	configFile := fs.String("config", "", "config file with key=value lines using the flag names")
	fs.StringVar(&cfg.TLSCertificate, "tls-certificate", "", "PEM certificate for tls/wss (none: self-signed)")
	fs.StringVar(&cfg.TLSPrivateKey, "tls-private-key", "", "PEM private key for tls/wss")
	fs.BoolVar(&cfg.TLSVerifyPeers, "tls-verify-peers", false, "verify certificates of TLS peers we dial")
	fs.StringVar(&cfg.AuthUsers, "auth-users", "", "digest authentication of REGISTERs and of requests from local users, against this file of user:password or user:realm:HA1 lines (none: no authentication)")
	fs.DurationVar(&cfg.FrTimeout, "fr-timeout", cfg.FrTimeout, "tm fr_timeout")
	fs.DurationVar(&cfg.FrInvTimeout, "fr-inv-timeout", cfg.FrInvTimeout, "tm fr_inv_timeout (Timer C)")
	fs.IntVar(&cfg.DefaultExpires, "default-expires", cfg.DefaultExpires, "registrar default expires (s)")
	fs.IntVar(&cfg.MinExpires, "min-expires", cfg.MinExpires, "registrar min expires (s), 0 none")
	fs.IntVar(&cfg.MaxExpires, "max-expires", cfg.MaxExpires, "registrar max expires (s), 0 unlimited")
	fs.IntVar(&cfg.MaxContacts, "max-contacts", cfg.MaxContacts, "most bindings per AOR; a REGISTER that would leave more gets 503 (0: unlimited)")
	fs.StringVar(&cfg.LocationFile, "location-file", cfg.LocationFile, "keep the registrations in this file across restarts (written when changed, every --location-sync and at shutdown; empty: memory only)")
	fs.DurationVar(&cfg.LocationSync, "location-sync", cfg.LocationSync, "how often a changed location table is written to --location-file")
	fs.DurationVar(&cfg.WSIdleTimeout, "ws-idle-timeout", cfg.WSIdleTimeout, "close WS connections idle this long")
	fs.IntVar(&cfg.MaxMessageSize, "max-message-size", cfg.MaxMessageSize, "largest SIP message accepted (bytes)")
	fs.IntVar(&cfg.UDPMTU, "udp-mtu", cfg.UDPMTU, "largest UDP datagram sent (bytes)")
	fs.DurationVar(&cfg.OverloadWait, "overload-wait", cfg.OverloadWait, "average wait of UDP datagrams in the socket at which every new INVITE gets 503; refusing starts at half of it (0: never)")
	fs.IntVar(&cfg.UDPReadBuffer, "udp-rcvbuf", cfg.UDPReadBuffer, "receive buffer of UDP listeners in bytes (capped by net.core.rmem_max; 0: system default)")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "Go GC target percent when GOGC is unset (-1: GC off)")
	fs.Int64Var(&cfg.MemoryLimit, "memory-limit", cfg.MemoryLimit, "Go soft memory limit in bytes when GOMEMLIMIT is unset (0: none)")
	fs.IntVar(&cfg.Procs, "procs", cfg.Procs, "threads running Go code at once (GOMAXPROCS) when GOMAXPROCS is unset (0: every CPU)")
	fs.StringVar(&cfg.Mgmt, "mgmt", cfg.Mgmt, "management HTTP address on loopback; empty disables")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *configFile != "" {
		if err := applyFile(fs, *configFile, set); err != nil {
			return cfg, err
		}
	}
	for _, l := range listens {
		lst, err := ParseListen(l)
		if err != nil {
			return cfg, err
		}
		cfg.Listen = append(cfg.Listen, lst)
	}
	cfg.Domains = append(cfg.Domains, domains...)
	cfg.RTPEngineSocks = cfg.Media.Socks
	cfg.WSOrigins = append(cfg.WSOrigins, origins...)
	return cfg, cfg.Validate()
}

// applyFile sets every key of the file that was not given on the command
// line. Repeatable keys from the file are ignored when the flag was given.
func applyFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("config %s:%d: want key=value", path, n)
		}
		k = strings.TrimSpace(strings.ReplaceAll(k, "_", "-"))
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("config %s:%d: unknown key %q", path, n, k)
		}
		if set[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("config %s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks cross-field rules.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 {
		return errors.New("no --listen given")
	}
	if (c.TLSCertificate == "") != (c.TLSPrivateKey == "") {
		return errors.New("--tls-certificate and --tls-private-key go together")
	}
	if c.FrTimeout <= 0 || c.FrInvTimeout <= 0 {
		return errors.New("fr-timeout and fr-inv-timeout must be positive")
	}
	if c.MaxContacts < 0 {
		return errors.New("max-contacts must not be negative")
	}
	if c.MaxExpires > 0 && c.MinExpires > c.MaxExpires {
		return errors.New("min-expires above max-expires")
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 65535 {
		return errors.New("max-message-size must be within 1024..65535")
	}
	if c.LocationFile != "" && c.LocationSync <= 0 {
		return errors.New("location-sync must be positive")
	}
	if c.OverloadWait < 0 {
		return errors.New("overload-wait must not be negative")
	}
	if c.UDPReadBuffer < 0 {
		return errors.New("udp-rcvbuf must not be negative")
	}
	if c.Procs < 0 {
		return errors.New("procs must not be negative")
	}
	if c.GCPercent < -1 || c.GCPercent == 0 || c.MemoryLimit < 0 {
		return errors.New("gc-percent must be -1 or positive, memory-limit not negative")
	}
	if c.UDPMTU < 1500 || c.UDPMTU > 65507 {
		return errors.New("udp-mtu must be within 1500..65507")
	}
	if err := c.Pike.Validate(); err != nil {
		return err
	}
	if err := c.NATPing.Validate(); err != nil {
		return err
	}
	return c.Media.Validate()
}
