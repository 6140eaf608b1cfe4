// Package config owns mediad's configuration: rtpengine 10.5's command
// line (long and short options, parsed the way GLib's option parser does)
// and its ini config file (section [rtpengine]), merged into one plain
// Config struct with the command line winning. It resolves interfaces and
// listener addresses but opens no sockets and starts nothing.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultConfigFile is read when --config-file is not given, if it exists.
const DefaultConfigFile = "/etc/rtpengine/rtpengine.conf"

// DefaultSection is the config file section used without --config-section.
const DefaultSection = "rtpengine"

// Sentinel results of Parse that are not failures.
var (
	ErrHelp    = errors.New("help requested")
	ErrVersion = errors.New("version requested")
)

// Interface is one address of a logical media interface (-i). Several
// entries may share a Name (e.g. an IPv4 and an IPv6 address).
type Interface struct {
	Name       string     // logical name, "default" unless given as NAME/
	Address    netip.Addr // local address to bind
	Advertised netip.Addr // address put into SDP; equals Address unless !ADVERTISED was given
}

// Config is mediad's configuration. Zero values are not meaningful: use
// Parse (or Default) which applies rtpengine's defaults.
type Config struct {
	Interfaces []Interface

	// Listener addresses in Go form ("127.0.0.1:2223", ":2223" = every
	// address, "[::1]:2223"); empty = listener disabled.
	ListenNG, ListenCLI, ListenHTTP string
	ListenTCPNG                     string   // --listen-tcp-ng: NG over TCP
	ListenUDP                       string   // --listen-udp: rtpproxy's text protocol
	ListenHTTPAll                   []string // every --listen-http value (ListenHTTP is the first)
	// ListenHTTPS are the --listen-https addresses, served with the
	// certificate HTTPSCert and the key HTTPSKey ("": in HTTPSCert).
	ListenHTTPS         []string
	HTTPSCert, HTTPSKey string

	PortMin, PortMax int // media port range, inclusive (default 30000-40000)

	LogLevel int // syslog level 0..7 (default 6 = info)
	// SubsystemLogLevels are --log-level-NAME's levels by subsystem name
	// (0 or absent: LogLevel's).
	SubsystemLogLevels map[string]int
	LogStderr          bool   // -E: stderr, not syslog
	LogFacility        string // --log-facility (syslog; "" = daemon)
	// LogFacilityCDR, LogFacilityRTCP and LogFacilityDTMF: syslog
	// facilities for a CDR line per call, a line per RTCP packet and a
	// JSON line per DTMF event ("" = none).
	LogFacilityCDR, LogFacilityRTCP, LogFacilityDTMF string
	NoLogTimestamps                                  bool
	// MaxLogLineLength breaks longer log lines into pieces (0: 500 on
	// syslog, none on stderr, as rtpengine; negative: never).
	MaxLogLineLength int
	// LogMarkPrefix and LogMarkSuffix enclose sensitive values in log
	// lines, for tools that strip or hash them.
	LogMarkPrefix, LogMarkSuffix string
	Foreground                   bool   // -f (mediad never forks; kept for compatibility)
	PidFile                      string // written at start, removed at exit

	Table      int  // kernel table (default 0; negative = userspace only)
	NoFallback bool // -F: fail unless kernel forwarding is available

	Timeout       time.Duration // default 60s
	SilentTimeout time.Duration // default 3600s
	FinalTimeout  time.Duration // default 0 = off
	OfferTimeout  time.Duration // default 3600s
	DeleteDelay   time.Duration // default 30s

	// MaxSessions limits concurrent calls as rtpengine does: -1 (default)
	// is unlimited, 0 refuses every new call.
	MaxSessions int
	// MaxLoad, MaxCPU and MaxBandwidth refuse new calls while the
	// 1-minute load average, the CPU usage in percent or the media bytes
	// relayed per second reach them (rtpengine --max-load, --max-cpu,
	// --max-bandwidth; 0: no limit).
	MaxLoad, MaxCPU float64
	MaxBandwidth    int64
	// MediaNumThreads is the number of the relay's read loops (rtpengine
	// --media-num-threads; 0 or less: one per CPU).
	MediaNumThreads int
	// Graphite is the Graphite server (host:port) statistics go to every
	// GraphiteInterval seconds, names prefixed with GraphitePrefix;
	// GraphiteTimeout (seconds) bounds connecting and writing.
	Graphite                          string
	GraphiteInterval, GraphiteTimeout int
	GraphitePrefix                    string
	// Homer is the Homer server (host:port) RTCP reports go to over
	// HomerProtocol ("udp" or "tcp") with HEP capture ID HomerID.
	Homer, HomerProtocol string
	HomerID              int
	// DTMFLogDest is where DTMF events go as JSON over UDP
	// (rtpengine --dtmf-log-dest; "": not logged).
	DTMFLogDest string
	// RecordingDir is the spool directory of call recordings ("": calls
	// are not recorded); RecordingMethod and RecordingFormat are
	// rtpengine's --recording-method (pcap, proc) and --recording-format
	// (raw, eth).
	RecordingDir, RecordingMethod, RecordingFormat string
	// TOS and ControlTOS are the IP TOS values of media and of NG
	// replies (rtpengine -T/--tos and --control-tos; 0: the system's).
	TOS, ControlTOS int
	// NumThreads is rtpengine's --num-threads: here the most NG commands
	// handled at once (0: one per CPU, at least two).
	NumThreads int

	DTLSPassive bool
	// DTLS certificate and association: --dtls-cert-cipher (RSA: an RSA
	// key of DTLSRSAKeySize bits, else ECDSA prime256v1),
	// --dtls-signature (SHA1: the certificate is signed with SHA-1,
	// else SHA-256), --dtls-mtu (bytes of a datagram with its IP and UDP
	// headers, as OpenSSL's link MTU).
	DTLSCertRSA    bool
	DTLSRSAKeySize int
	DTLSSHA1       bool
	DTLSMTU        int
	// SoftwareID is --software-id: letters, digits and '-' ("" = mediad).
	SoftwareID string
	// LogSRTPKeys is --log-srtp-keys: the keys a DTLS handshake yields
	// are logged at error instead of debug.
	LogSRTPKeys bool
	// RejectInvalidSDP is --reject-invalid-sdp.
	RejectInvalidSDP bool
	// MOS is --mos: "CQ" (default) or "LQ".
	MOS              string
	EndpointLearning string // delayed (default), immediate, off, heuristic
	SIPSource        bool

	// ConfigFile is the file that was loaded ("" if none).
	ConfigFile string
	// Unimplemented lists the options that were given (command line or
	// config file) which rtpengine knows but mediad ignores, as "--name".
	Unimplemented []string
	// Args holds stray non-option arguments (rtpengine ignores them too).
	Args []string

	interfaceSpecs []string
}

// Default returns the configuration with rtpengine 10.5's defaults and no
// interfaces or listeners.
func Default() Config {
	return Config{
		PortMin:          30000,
		PortMax:          40000,
		LogLevel:         6,
		Table:            0, // rtpengine: kernel table 0 unless -t is negative
		Timeout:          60 * time.Second,
		SilentTimeout:    3600 * time.Second,
		OfferTimeout:     3600 * time.Second,
		DeleteDelay:      30 * time.Second,
		MaxSessions:      -1,
		EndpointLearning: "delayed",
		RecordingMethod:  "pcap",
		RecordingFormat:  "raw",
		HomerProtocol:    "udp",
		HomerID:          2001,
		DTLSRSAKeySize:   2048,
		MOS:              "CQ",
		DTLSMTU:          1200, // Chrome's, as rtpengine says
	}
}

// occurrence is one option found on the command line.
type occurrence struct {
	opt  *option
	name string // as typed, for messages ("-t", "--table")
	val  string
}

// Parse builds the configuration from command-line arguments (without the
// program name) and the config file they select. It returns ErrHelp or
// ErrVersion (with a nil Config) when --help or --version was given.
func Parse(args []string) (*Config, error) {
	idx := newOptionIndex()
	occs, extra, err := parseArgs(idx, args)
	if err != nil {
		return nil, err
	}
	file, section := "", DefaultSection
	explicitFile := false
	version := false
	for _, o := range occs {
		switch o.opt.long {
		case optConfigFile:
			file, explicitFile = o.val, true
		case optConfigSection:
			section = o.val
		case optVersion:
			version = true
		}
	}
	if version {
		return nil, ErrVersion
	}

	cfg := Default()
	cfg.Args = extra
	given := map[string]bool{}

	// Config file first, command line afterwards so it wins.
	if !explicitFile {
		file = DefaultConfigFile
	}
	if file != "none" {
		data, err := os.ReadFile(file)
		switch {
		case err == nil:
			if err := cfg.applyFile(data, section, given); err != nil {
				return nil, fmt.Errorf("config file %s: %w", file, err)
			}
			cfg.ConfigFile = file
		case errors.Is(err, os.ErrNotExist) && !explicitFile:
			// The default file is optional.
		default:
			return nil, fmt.Errorf("config file: %w", err)
		}
	}
	if err := cfg.applyArgs(occs, given); err != nil {
		return nil, err
	}
	for name := range given {
		if o := idx.byLong[name]; o != nil && o.set == nil {
			cfg.Unimplemented = append(cfg.Unimplemented, "--"+name)
		}
	}
	slices.Sort(cfg.Unimplemented)
	if err := cfg.finish(given); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// applyArgs applies command-line occurrences: scalars last-wins, lists
// collected (a list given on the command line replaces the file's).
func (c *Config) applyArgs(occs []occurrence, given map[string]bool) error {
	lists := map[*option][]string{}
	var order []*option
	for _, o := range occs {
		given[o.opt.long] = true
		if o.opt.kind == kindStrings {
			if _, seen := lists[o.opt]; !seen {
				order = append(order, o.opt)
			}
			lists[o.opt] = append(lists[o.opt], o.val)
			continue
		}
		v, err := cliValue(o.opt.kind, o.val, o.name)
		if err != nil {
			return err
		}
		if o.opt.set != nil {
			if err := o.opt.set(c, v); err != nil {
				return err
			}
		}
	}
	for _, opt := range order {
		if opt.set != nil {
			if err := opt.set(c, value{list: lists[opt]}); err != nil {
				return err
			}
		}
	}
	return nil
}

// cliValue converts a command-line value the way GLib does: integers with
// strtol base 0 (so 0x10 and 010 work), no trailing garbage.
func cliValue(k argKind, s, name string) (value, error) {
	switch k {
	case kindNone:
		return value{b: true}, nil // GLib sets TRUE even for --flag=anything
	case kindInt, kindInt64:
		bits := 32
		if k == kindInt64 {
			bits = 64
		}
		n, err := strconv.ParseInt(strings.TrimLeft(s, " \t\n"), 0, bits)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return value{}, fmt.Errorf("integer value %q for %s out of range", s, name)
			}
			return value{}, fmt.Errorf("cannot parse integer value %q for %s", s, name)
		}
		return value{i: n}, nil
	case kindDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return value{}, fmt.Errorf("cannot parse double value %q for %s", s, name)
		}
		return value{f: f}, nil
	}
	return value{s: s}, nil
}

// finish validates and derives: defaults for non-positive timeouts as
// rtpengine applies them, interfaces resolved, listeners normalised.
func (c *Config) finish(given map[string]bool) error {
	if len(c.interfaceSpecs) == 0 {
		return errors.New("missing option --interface")
	}
	if c.ListenNG == "" && c.ListenTCPNG == "" && c.ListenUDP == "" && len(c.ListenHTTPAll) == 0 && len(c.ListenHTTPS) == 0 &&
		!given["listen-tcp"] {
		return errors.New("missing option --listen-tcp, --listen-udp, --listen-ng, --listen-tcp-ng, --listen-http, or --listen-https")
	}
	for _, spec := range c.interfaceSpecs {
		ifs, err := parseInterface(spec)
		if err != nil {
			return err
		}
		c.Interfaces = append(c.Interfaces, ifs...)
	}
	var err error
	if c.ListenNG, err = normalizeListen(c.ListenNG, "--listen-ng"); err != nil {
		return err
	}
	if c.ListenCLI, err = normalizeListen(c.ListenCLI, "--listen-cli"); err != nil {
		return err
	}
	if c.ListenTCPNG, err = normalizeListen(c.ListenTCPNG, "--listen-tcp-ng"); err != nil {
		return err
	}
	if c.ListenUDP, err = normalizeListen(c.ListenUDP, "--listen-udp"); err != nil {
		return err
	}
	if c.Homer != "" {
		if h, _, err := net.SplitHostPort(c.Homer); err != nil || h == "" {
			return fmt.Errorf("invalid IP or port %q (--homer)", c.Homer)
		}
	}
	switch c.HomerProtocol {
	case "", "udp", "tcp":
	default:
		return fmt.Errorf("invalid protocol %q (--homer-protocol)", c.HomerProtocol)
	}
	if c.Graphite != "" {
		if h, _, err := net.SplitHostPort(c.Graphite); err != nil || h == "" {
			return fmt.Errorf("invalid IP or port %q (--graphite)", c.Graphite)
		}
	}
	for i, l := range c.ListenHTTPAll {
		if c.ListenHTTPAll[i], err = normalizeListen(l, "--listen-http"); err != nil {
			return err
		}
	}
	if len(c.ListenHTTPAll) > 0 {
		c.ListenHTTP = c.ListenHTTPAll[0]
	}
	for i, l := range c.ListenHTTPS {
		if c.ListenHTTPS[i], err = normalizeListen(l, "--listen-https"); err != nil {
			return err
		}
	}
	if len(c.ListenHTTPS) > 0 && c.HTTPSCert == "" {
		return errors.New("HTTPS/WSS listener requested, but no certificate given")
	}
	if c.HTTPSKey == "" {
		c.HTTPSKey = c.HTTPSCert
	}
	// rtpengine dies on these with the same words.
	if c.TOS < 0 || c.TOS > 255 {
		return errors.New("invalid TOS value")
	}
	if c.ControlTOS < 0 || c.ControlTOS > 255 {
		return errors.New("invalid control-ng TOS value")
	}
	if c.RecordingFormat != "raw" && c.RecordingFormat != "eth" {
		return fmt.Errorf("invalid value for recording format %q (raw or eth)", c.RecordingFormat)
	}
	if c.DTLSRSAKeySize < 0 || c.DTLSCertRSA && c.DTLSRSAKeySize < 1024 {
		// Go generates no RSA key under 1024 bits (rtpengine's OpenSSL
		// takes 512).
		return fmt.Errorf("invalid --dtls-rsa-key-size (%d)", c.DTLSRSAKeySize)
	}
	if c.DTLSMTU < 576 {
		// rtpengine: "Invalid --dtls-mtu (%i)"; 576 is the least an
		// IPv4 host must take.
		return fmt.Errorf("invalid --dtls-mtu (%d)", c.DTLSMTU)
	}
	if c.PortMin < 1 || c.PortMax > 65535 || c.PortMin > c.PortMax {
		return fmt.Errorf("invalid port range %d-%d (--port-min/--port-max)", c.PortMin, c.PortMax)
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.SilentTimeout <= 0 {
		c.SilentTimeout = 3600 * time.Second
	}
	if c.OfferTimeout <= 0 {
		c.OfferTimeout = 3600 * time.Second
	}
	if c.FinalTimeout < 0 {
		c.FinalTimeout = 0
	}
	if c.DeleteDelay < 0 {
		c.DeleteDelay = 0
	}
	if c.MaxSessions < -1 {
		c.MaxSessions = -1
	}
	return nil
}

// normalizeListen turns rtpengine's [IP46|HOSTNAME:]PORT into a Go listen
// address. A bare port listens on every address, as rtpengine does.
func normalizeListen(s, opt string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := fmt.Errorf("invalid IP or port %q (%s)", s, opt)
	host, port := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", bad
	}
	switch {
	case host == "":
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return "", bad
		}
		host = a.String()
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			host = a.String() // IPv6 without brackets is accepted too
		} else if strings.ContainsAny(host, ":[] /") {
			return "", bad
		}
	}
	return joinHostPort(host, n), nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}
