package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"sipmedia/mediad/internal/loglevel"
)

// argKind is the type of value an option takes, as in GLib's GOptionArg.
type argKind uint8

const (
	kindNone    argKind = iota // flag without value (G_OPTION_ARG_NONE)
	kindInt                    // 32-bit integer (G_OPTION_ARG_INT)
	kindInt64                  // 64-bit integer (G_OPTION_ARG_INT64)
	kindDouble                 // floating point (G_OPTION_ARG_DOUBLE)
	kindString                 // string or file name; repeated: last wins
	kindStrings                // repeatable list (G_OPTION_ARG_STRING_ARRAY)
)

// value is one parsed option value; which field is valid depends on the kind.
type value struct {
	b    bool
	i    int64
	f    float64
	s    string
	list []string
}

// option is one row of the option table.
type option struct {
	long  string
	short byte // 0 = none
	kind  argKind
	// set stores the value; nil means rtpengine accepts the option but
	// mediad does not implement it (it is accepted and warned about).
	set  func(c *Config, v value) error
	help string
	arg  string // value name in --help; default from the kind
}

// choiceVar sets a field from the names rtpengine takes for its values,
// in any case; another name is rtpengine's "Invalid --OPT option" error.
func choiceVar[T any](opt string, names map[string]T, f func(*Config) *T) func(*Config, value) error {
	return func(c *Config, v value) error {
		x, ok := names[strings.ToLower(v.s)]
		if !ok {
			return fmt.Errorf("invalid --%s option ('%s')", opt, v.s)
		}
		*f(c) = x
		return nil
	}
}

// setSoftwareID keeps letters, digits and '-', replacing anything else
// with '-', as rtpengine does (g_strcanon).
func setSoftwareID(c *Config, v value) error {
	c.SoftwareID = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, v.s)
	return nil
}

// meta options handled by the parser itself rather than stored.
const (
	optConfigFile    = "config-file"
	optConfigSection = "config-section"
	optVersion       = "version"
)

func boolVar(f func(*Config) *bool) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = v.b; return nil }
}

func intVar(f func(*Config) *int) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = int(v.i); return nil }
}

// logLevelOptions are --log-level-NAME for each of rtpengine's log
// subsystems, in its order.
func logLevelOptions() []option {
	var out []option
	for _, s := range loglevel.Subsystems {
		out = append(out, option{long: "log-level-" + s.Name, kind: kindInt, set: subsystemLevel(s.Name),
			help: "Log level for: " + s.Description + " (0: -L's)"})
	}
	return out
}

// subsystemLevel sets one log subsystem's level (--log-level-NAME).
func subsystemLevel(name string) func(*Config, value) error {
	return func(c *Config, v value) error {
		if c.SubsystemLogLevels == nil {
			c.SubsystemLogLevels = map[string]int{}
		}
		c.SubsystemLogLevels[name] = int(v.i)
		return nil
	}
}

func int64Var(f func(*Config) *int64) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = v.i; return nil }
}

func floatVar(f func(*Config) *float64) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = v.f; return nil }
}

func stringVar(f func(*Config) *string) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = v.s; return nil }
}

func secondsVar(f func(*Config) *time.Duration) func(*Config, value) error {
	return func(c *Config, v value) error { *f(c) = time.Duration(v.i) * time.Second; return nil }
}

func nop(*Config, value) error { return nil }

// optionTable lists every option rtpengine 10.5 accepts (`rtpengine --help`,
// daemon/main.c and lib/auxlib.c of mr10.5.3.5), in its order. Rows with a
// setter are implemented by mediad; the others are accepted and reported.
var optionTable = slices.Concat([]option{
	// shared options (lib/auxlib.c)
	{long: optVersion, short: 'v', kind: kindNone, set: nop, help: "Print the version and exit"},
	{long: optConfigFile, kind: kindString, set: nop, help: "Load config from this file (\"none\" skips it)", arg: "FILE"},
	{long: optConfigSection, kind: kindString, set: nop, help: "Config file section to use (default rtpengine)"},
	{long: "log-facility", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogFacility }), help: "Syslog facility to use for logging (without -E)", arg: "daemon|local0|...|local7"},
	{long: "log-level", short: 'L', kind: kindInt, set: intVar(func(c *Config) *int { return &c.LogLevel }), help: "Log level 0..7 (syslog levels; default 6)"},
}, logLevelOptions(), []option{
	{long: "log-stderr", short: 'E', kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.LogStderr }), help: "Log on stderr instead of syslog"},
	{long: "split-logs", kind: kindNone, set: nop, help: "Split multi-line log messages (mediad's lines never hold a newline: values are quoted)"},
	{long: "max-log-line-length", kind: kindInt, set: intVar(func(c *Config) *int { return &c.MaxLogLineLength }), help: "Break log lines at this length (default 500 on syslog, none on stderr; negative: never)"},
	{long: "no-log-timestamps", kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.NoLogTimestamps }), help: "Drop timestamps from log lines"},
	{long: "log-mark-prefix", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogMarkPrefix }), help: "Prefix for sensitive log info (call IDs, tags, media addresses, SSRCs)"},
	{long: "log-mark-suffix", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogMarkSuffix }), help: "Suffix for sensitive log info"},
	{long: "pidfile", short: 'p', kind: kindString, set: stringVar(func(c *Config) *string { return &c.PidFile }), help: "Write PID to this file (removed on exit)", arg: "FILE"},
	{long: "foreground", short: 'f', kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.Foreground }), help: "Stay in the foreground (mediad never forks)"},
	{long: "thread-stack", kind: kindInt},

	// daemon options (daemon/main.c)
	{long: "table", short: 't', kind: kindInt, set: intVar(func(c *Config) *int { return &c.Table }), help: "Kernel forwarding table; negative = userspace only"},
	{long: "no-fallback", short: 'F', kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.NoFallback }), help: "Refuse to start without kernel forwarding"},
	{long: "interface", short: 'i', kind: kindStrings, set: func(c *Config, v value) error { c.interfaceSpecs = v.list; return nil }, help: "Media interface; IP: address, system interface name, any, or host name; !IP: advertised address; repeatable", arg: "[NAME/]IP[!IP]"},
	{long: "save-interface-ports", short: 'S', kind: kindNone},
	{long: "subscribe-keyspace", short: 'k', kind: kindStrings},
	{long: "listen-tcp", short: 'l', kind: kindString},
	{long: "listen-udp", short: 'u', kind: kindString, set: stringVar(func(c *Config) *string { return &c.ListenUDP }), help: "Legacy UDP control protocol (rtpproxy's U/L/D/Q/V commands)", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "listen-ng", short: 'n', kind: kindString, set: stringVar(func(c *Config) *string { return &c.ListenNG }), help: "NG control protocol (UDP)", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "listen-tcp-ng", short: 'N', kind: kindString, set: stringVar(func(c *Config) *string { return &c.ListenTCPNG }), help: "NG over TCP: a stream of \"COOKIE BENCODE\" messages", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "listen-cli", short: 'c', kind: kindString, set: stringVar(func(c *Config) *string { return &c.ListenCLI }), help: "CLI port (TCP), as used by rtpengine-ctl and mediad ctl", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "graphite", short: 'g', kind: kindString, set: stringVar(func(c *Config) *string { return &c.Graphite }), help: "Graphite server statistics are sent to (TCP, plaintext protocol)", arg: "IP46|HOSTNAME:PORT"},
	{long: "graphite-interval", short: 'G', kind: kindInt, set: intVar(func(c *Config) *int { return &c.GraphiteInterval }), help: "Seconds between reports to Graphite (1 if unset)", arg: "INT"},
	{long: "graphite-prefix", kind: kindString, set: stringVar(func(c *Config) *string { return &c.GraphitePrefix }), help: "Prefix of every Graphite metric name, as given", arg: "STRING"},
	{long: "graphite-timeout", kind: kindInt, set: intVar(func(c *Config) *int { return &c.GraphiteTimeout }), help: "Seconds to wait connecting or writing to Graphite", arg: "INT"},
	{long: "tos", short: 'T', kind: kindInt, set: intVar(func(c *Config) *int { return &c.TOS }), help: "IP TOS (IPv6 traffic class) of media packets sent"},
	{long: "control-tos", kind: kindInt, set: intVar(func(c *Config) *int { return &c.ControlTOS }), help: "IP TOS of NG control replies"},
	{long: "timeout", short: 'o', kind: kindInt, set: secondsVar(func(c *Config) *time.Duration { return &c.Timeout }), help: "RTP timeout in seconds (default 60)", arg: "SECS"},
	{long: "silent-timeout", short: 's', kind: kindInt, set: secondsVar(func(c *Config) *time.Duration { return &c.SilentTimeout }), help: "RTP timeout for muted streams in seconds (default 3600)", arg: "SECS"},
	{long: "final-timeout", short: 'a', kind: kindInt, set: secondsVar(func(c *Config) *time.Duration { return &c.FinalTimeout }), help: "Call timeout in seconds (default 0 = off)", arg: "SECS"},
	{long: "offer-timeout", kind: kindInt, set: secondsVar(func(c *Config) *time.Duration { return &c.OfferTimeout }), help: "Timeout for one-sided calls in seconds (default 3600)", arg: "SECS"},
	{long: "port-min", short: 'm', kind: kindInt, set: intVar(func(c *Config) *int { return &c.PortMin }), help: "Lowest media port (default 30000)"},
	{long: "port-max", short: 'M', kind: kindInt, set: intVar(func(c *Config) *int { return &c.PortMax }), help: "Highest media port (default 40000)"},
	{long: "redis", short: 'r', kind: kindString},
	{long: "redis-write", short: 'w', kind: kindString},
	{long: "redis-num-threads", kind: kindInt},
	{long: "redis-expires", kind: kindInt},
	{long: "no-redis-required", short: 'q', kind: kindNone},
	{long: "redis-allowed-errors", kind: kindInt},
	{long: "redis-disable-time", kind: kindInt},
	{long: "redis-cmd-timeout", kind: kindInt},
	{long: "redis-connect-timeout", kind: kindInt},
	{long: "redis-delete-async", short: 'y', kind: kindInt},
	{long: "redis-delete-async-interval", kind: kindInt},
	{long: "active-switchover", kind: kindNone},
	{long: "b2b-url", short: 'b', kind: kindString},
	{long: "log-facility-cdr", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogFacilityCDR }), help: "Syslog facility for a CDR line per call", arg: "daemon|local0|...|local7"},
	{long: "log-facility-rtcp", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogFacilityRTCP }), help: "Syslog facility for a line per RTCP packet", arg: "daemon|local0|...|local7"},
	{long: "log-facility-dtmf", kind: kindString, set: stringVar(func(c *Config) *string { return &c.LogFacilityDTMF }), help: "Syslog facility for a JSON line per DTMF event", arg: "daemon|local0|...|local7"},
	{long: "dtmf-log-dest", kind: kindString, set: stringVar(func(c *Config) *string { return &c.DTMFLogDest }), help: "Send a JSON line per DTMF event to this IP:PORT over UDP", arg: "IP46:PORT"},
	{long: "dtmf-log-ng-tcp", kind: kindNone},
	{long: "dtmf-no-suppress", kind: kindNone},
	{long: "dtmf-digit-delay", kind: kindInt},
	{long: "log-format", kind: kindString},
	{long: "xmlrpc-format", short: 'x', kind: kindInt},
	{long: "num-threads", kind: kindInt, set: intVar(func(c *Config) *int { return &c.NumThreads }), help: "Most NG commands handled at once (default: one per CPU, at least 2)"},
	{long: "media-num-threads", kind: kindInt, set: intVar(func(c *Config) *int { return &c.MediaNumThreads }), help: "Media read loops of the userspace relay (default: one per CPU)"},
	{long: "delete-delay", short: 'd', kind: kindInt, set: secondsVar(func(c *Config) *time.Duration { return &c.DeleteDelay }), help: "Seconds a deleted call stays in memory (default 30)", arg: "SECS"},
	{long: "sip-source", kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.SIPSource }), help: "Use the SIP source address by default"},
	{long: "dtls-passive", kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.DTLSPassive }), help: "Always prefer the DTLS passive role"},
	{long: "max-sessions", kind: kindInt, set: intVar(func(c *Config) *int { return &c.MaxSessions }), help: "Maximum number of calls (-1 = unlimited)"},
	{long: "max-load", kind: kindDouble, set: floatVar(func(c *Config) *float64 { return &c.MaxLoad }), help: "Refuse new calls while the 1-minute load average is at least this"},
	{long: "max-cpu", kind: kindDouble, set: floatVar(func(c *Config) *float64 { return &c.MaxCPU }), help: "Refuse new calls while CPU usage (percent) is at least this"},
	{long: "max-bandwidth", kind: kindInt64, set: int64Var(func(c *Config) *int64 { return &c.MaxBandwidth }), help: "Refuse new calls while media relayed per second (bytes) is at least this"},
	{long: "homer", kind: kindString, set: stringVar(func(c *Config) *string { return &c.Homer }), help: "Homer server RTCP reports are sent to (HEP3)", arg: "IP46|HOSTNAME:PORT"},
	{long: "homer-protocol", kind: kindString, set: stringVar(func(c *Config) *string { return &c.HomerProtocol }), help: "Transport to the Homer server (default udp)", arg: "udp|tcp"},
	{long: "homer-id", kind: kindInt, set: intVar(func(c *Config) *int { return &c.HomerID }), help: "HEP capture ID (default 2001)", arg: "INT"},
	{long: "recording-dir", kind: kindString, set: stringVar(func(c *Config) *string { return &c.RecordingDir }), help: "Directory for storing pcap and metadata files", arg: "FILE"},
	{long: "recording-method", kind: kindString, set: stringVar(func(c *Config) *string { return &c.RecordingMethod }), help: "Strategy for call recording (pcap; rtpengine's proc needs its kernel module)", arg: "pcap|proc"},
	{long: "recording-format", kind: kindString, set: stringVar(func(c *Config) *string { return &c.RecordingFormat }), help: "File format for stored pcap files", arg: "raw|eth"},
	{long: "iptables-chain", kind: kindString},
	{long: "codecs", kind: kindNone},
	{long: "scheduling", kind: kindString},
	{long: "priority", kind: kindInt},
	{long: "idle-scheduling", kind: kindString},
	{long: "idle-priority", kind: kindInt},
	{long: "log-srtp-keys", kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.LogSRTPKeys }), help: "Log the SRTP keys of DTLS-SRTP at error, not debug"},
	{long: "mysql-host", kind: kindString},
	{long: "mysql-port", kind: kindInt},
	{long: "mysql-user", kind: kindString},
	{long: "mysql-pass", kind: kindString},
	{long: "mysql-query", kind: kindString},
	{long: "endpoint-learning", kind: kindString, set: setEndpointLearning, help: "RTP endpoint learning algorithm (default delayed)", arg: "delayed|immediate|off|heuristic"},
	{long: "jitter-buffer", kind: kindInt},
	{long: "jb-clock-drift", kind: kindNone},
	{long: "debug-srtp", kind: kindNone},
	{long: "reject-invalid-sdp", kind: kindNone, set: boolVar(func(c *Config) *bool { return &c.RejectInvalidSDP }), help: "Refuse an SDP with an empty line (without: the SDP ends there)"},
	{long: "dtls-rsa-key-size", kind: kindInt, set: intVar(func(c *Config) *int { return &c.DTLSRSAKeySize }), help: "Size of the RSA key of the DTLS certificate (default 2048)"},
	{long: "dtls-cert-cipher", kind: kindString, set: choiceVar("dtls-cert-cipher", map[string]bool{"rsa": true, "prime256v1": false, "ec_prime256v1": false, "ec-prime256v1": false},
		func(c *Config) *bool { return &c.DTLSCertRSA }), help: "Key of the DTLS certificate", arg: "prime256v1|RSA"},
	{long: "dtls-mtu", kind: kindInt, set: intVar(func(c *Config) *int { return &c.DTLSMTU }), help: "DTLS MTU (default 1200)"},
	{long: "dtls-ciphers", kind: kindString},
	{long: "dtls-signature", kind: kindString, set: choiceVar("dtls-signature", map[string]bool{"sha-1": true, "sha1": true, "sha-256": false, "sha256": false},
		func(c *Config) *bool { return &c.DTLSSHA1 }), help: "Signature hash of the DTLS certificate", arg: "SHA-256|SHA-1"},
	{long: "listen-http", kind: kindStrings, set: func(c *Config, v value) error { c.ListenHTTPAll = v.list; return nil }, help: "HTTP: GET /ping, GET /cli/COMMAND, POST /ng; WebSocket ng.rtpengine.com, cli.rtpengine.com", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "listen-https", kind: kindStrings, set: func(c *Config, v value) error { c.ListenHTTPS = v.list; return nil }, help: "HTTPS and WSS: as --listen-http, with TLS (needs --https-cert)", arg: "[IP46|HOSTNAME:]PORT"},
	{long: "https-cert", kind: kindString, set: stringVar(func(c *Config) *string { return &c.HTTPSCert }), help: "Certificate (PEM) of the HTTPS listeners", arg: "FILE"},
	{long: "https-key", kind: kindString, set: stringVar(func(c *Config) *string { return &c.HTTPSKey }), help: "Private key (PEM) of the HTTPS listeners (default: in the certificate file)", arg: "FILE"},
	{long: "http-threads", kind: kindInt},
	{long: "software-id", kind: kindString, set: setSoftwareID, help: "Name presented to peers: s= of SDPs of mediad's own making, STUN SOFTWARE, DTLS certificate CN (default mediad)"},
	{long: "poller-per-thread", kind: kindNone},
	{long: "dtx-delay", kind: kindInt},
	{long: "max-dtx", kind: kindInt},
	{long: "dtx-buffer", kind: kindInt},
	{long: "dtx-lag", kind: kindInt},
	{long: "dtx-shift", kind: kindInt},
	{long: "dtx-cn-params", kind: kindStrings},
	{long: "amr-dtx", kind: kindString},
	{long: "silence-detect", kind: kindDouble},
	{long: "cn-payload", kind: kindStrings},
	{long: "mqtt-host", kind: kindString},
	{long: "mqtt-port", kind: kindInt},
	{long: "mqtt-id", kind: kindString},
	{long: "mqtt-keepalive", kind: kindInt},
	{long: "mqtt-user", kind: kindString},
	{long: "mqtt-pass", kind: kindString},
	{long: "mqtt-cafile", kind: kindString},
	{long: "mqtt-capath", kind: kindString},
	{long: "mqtt-certfile", kind: kindString},
	{long: "mqtt-keyfile", kind: kindString},
	{long: "mqtt-publish-qos", kind: kindInt},
	{long: "mqtt-publish-topic", kind: kindString},
	{long: "mqtt-publish-interval", kind: kindInt},
	{long: "mqtt-publish-scope", kind: kindString},
	{long: "mos", kind: kindString, set: choiceVar("mos", map[string]string{"cq": "CQ", "lq": "LQ"}, func(c *Config) *string { return &c.MOS }), help: "MOS of the quality figures: conversational (needs both legs' round trip) or listening", arg: "CQ|LQ"},
	{long: "socket-cpu-affinity", kind: kindInt},
	{long: "janus-secret", kind: kindString},
})

func setEndpointLearning(c *Config, v value) error {
	s := strings.ToLower(strings.TrimSpace(v.s))
	switch s {
	case "delayed", "immediate", "off", "heuristic":
		c.EndpointLearning = s
		return nil
	}
	return fmt.Errorf("invalid --endpoint-learning option (%q)", v.s)
}

// optionIndex gives lookup by long and short name.
type optionIndex struct {
	byLong  map[string]*option
	byShort map[byte]*option
}

func newOptionIndex() optionIndex {
	idx := optionIndex{byLong: make(map[string]*option, len(optionTable)), byShort: make(map[byte]*option)}
	for i := range optionTable {
		o := &optionTable[i]
		idx.byLong[o.long] = o
		if o.short != 0 {
			if _, dup := idx.byShort[o.short]; !dup { // first row wins, as -F/-y in rtpengine's help
				idx.byShort[o.short] = o
			}
		}
	}
	return idx
}

// OptionNames returns every long option name accepted, in table order.
func OptionNames() []string {
	names := make([]string, len(optionTable))
	for i, o := range optionTable {
		names[i] = o.long
	}
	return names
}

// Implemented reports whether mediad implements the named long option
// (false for accepted-only and unknown options).
func Implemented(long string) bool {
	for _, o := range optionTable {
		if o.long == long {
			return o.set != nil
		}
	}
	return false
}

// Usage returns the --help text.
func Usage(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s [OPTION...] - rtpengine-compatible media daemon\n  %s ctl [-ip IP[:PORT]] [-port N] COMMAND...\n\n", prog, prog)
	b.WriteString("Help Options:\n  -h, --help                     Show help options\n\nImplemented options:\n")
	var ignored []string
	for _, o := range optionTable {
		if o.set == nil {
			ignored = append(ignored, "--"+o.long)
			continue
		}
		name := "--" + o.long
		if o.short != 0 {
			name = "-" + string(o.short) + ", " + name
		}
		if o.arg != "" {
			name += "=" + o.arg
		} else if o.kind != kindNone {
			name += "=" + map[argKind]string{kindInt: "INT", kindInt64: "INT", kindDouble: "FLOAT", kindString: "STRING", kindStrings: "STRING"}[o.kind]
		}
		fmt.Fprintf(&b, "  %-38s %s\n", name, o.help)
	}
	b.WriteString("\nAccepted for compatibility with rtpengine 10.5 but not implemented (a warning is logged):\n")
	line := " "
	for _, n := range ignored {
		if len(line)+len(n)+1 > 78 {
			b.WriteString(line + "\n")
			line = " "
		}
		line += " " + n
	}
	b.WriteString(line + "\n")
	return b.String()
}
