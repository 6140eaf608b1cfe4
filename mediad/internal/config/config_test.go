package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseCommandLines(t *testing.T) {
	base := []string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223"}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{
			// The exact command line of rtpengine's own test suite (t/auto-daemon-tests*.pl).
			name: "rtpengine test suite",
			args: strings.Fields("--config-file=none -t -1 -i 203.0.113.1 -i 2001:db8:4321::1 -n 2223 -c 12345 -f -L 7 -E -u 2222"),
			check: func(t *testing.T, c *Config) {
				want := []Interface{
					{Name: "default", Address: mustAddr("203.0.113.1"), Advertised: mustAddr("203.0.113.1")},
					{Name: "default", Address: mustAddr("2001:db8:4321::1"), Advertised: mustAddr("2001:db8:4321::1")},
				}
				if !reflect.DeepEqual(c.Interfaces, want) {
					t.Errorf("interfaces = %+v", c.Interfaces)
				}
				if c.Table != -1 || c.ListenNG != ":2223" || c.ListenCLI != ":12345" || !c.Foreground || c.LogLevel != 7 || !c.LogStderr {
					t.Errorf("config = %+v", c)
				}
				if c.ListenUDP != ":2222" || len(c.Unimplemented) != 0 {
					t.Errorf("listen-udp %q, unimplemented = %v", c.ListenUDP, c.Unimplemented)
				}
				if c.ConfigFile != "" {
					t.Errorf("config file loaded: %q", c.ConfigFile)
				}
			},
		},
		{
			name: "defaults",
			args: base,
			check: func(t *testing.T, c *Config) {
				if c.PortMin != 30000 || c.PortMax != 40000 || c.LogLevel != 6 || c.Table != 0 || c.MaxSessions != -1 ||
					c.Timeout != 60*time.Second || c.SilentTimeout != time.Hour || c.FinalTimeout != 0 ||
					c.OfferTimeout != time.Hour || c.DeleteDelay != 30*time.Second || c.EndpointLearning != "delayed" {
					t.Errorf("defaults = %+v", c)
				}
				if len(c.Unimplemented) != 0 {
					t.Errorf("unimplemented = %v", c.Unimplemented)
				}
			},
		},
		{
			name: "long forms with = and separate values",
			args: append(base[:len(base):len(base)], "--port-min=40000", "--port-max", "40100", "--timeout=5", "--silent-timeout", "6",
				"--final-timeout=7", "--offer-timeout=8", "--delete-delay=0", "--max-sessions=10", "--listen-cli=[::1]:9900",
				"--listen-http=127.0.0.1:8080", "--pidfile=/tmp/x.pid", "--no-fallback", "--table=0", "--dtls-passive",
				"--sip-source", "--endpoint-learning=HEURISTIC", "--log-level=3", "--foreground=0"),
			check: func(t *testing.T, c *Config) {
				if c.PortMin != 40000 || c.PortMax != 40100 || c.Timeout != 5*time.Second || c.SilentTimeout != 6*time.Second ||
					c.FinalTimeout != 7*time.Second || c.OfferTimeout != 8*time.Second || c.DeleteDelay != 0 ||
					c.MaxSessions != 10 || c.ListenCLI != "[::1]:9900" || c.ListenHTTP != "127.0.0.1:8080" ||
					c.PidFile != "/tmp/x.pid" || !c.NoFallback || c.Table != 0 || !c.DTLSPassive || !c.SIPSource ||
					c.EndpointLearning != "heuristic" || c.LogLevel != 3 || !c.Foreground {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "short forms: grouped, attached, hex",
			args: []string{"--config-file=none", "-i", "lo/127.0.0.1!192.0.2.7", "-n127.0.0.1:2223", "-fEL", "5", "-t-1", "-m0x7530", "-M", "30010", "-o", "010", "-d5", "-a", "3", "-s", "9"},
			check: func(t *testing.T, c *Config) {
				want := []Interface{{Name: "lo", Address: mustAddr("127.0.0.1"), Advertised: mustAddr("192.0.2.7")}}
				if !reflect.DeepEqual(c.Interfaces, want) {
					t.Errorf("interfaces = %+v", c.Interfaces)
				}
				if c.ListenNG != "127.0.0.1:2223" || !c.Foreground || !c.LogStderr || c.LogLevel != 5 || c.Table != -1 ||
					c.PortMin != 30000 || c.PortMax != 30010 || c.Timeout != 8*time.Second || c.DeleteDelay != 5*time.Second ||
					c.FinalTimeout != 3*time.Second || c.SilentTimeout != 9*time.Second {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "accepted-only options reported once each, sorted",
			args: append(base[:len(base):len(base)], "--silence-detect=5.5", "--jitter-buffer", "10", "--dtx-delay=50",
				"--thread-stack=1024", "--log-level-ice=7", "-l", "2222", "--listen-tcp=2224", "-T", "184", "-k", "1", "-k", "2", "--max-load=3.5", "-F",
				"--media-num-threads=3", "--dtmf-log-dest=127.0.0.1:9", "--max-cpu=90.5", "--max-bandwidth=1000000", "--control-tos=32"),
			check: func(t *testing.T, c *Config) {
				want := []string{"--dtx-delay", "--jitter-buffer", "--listen-tcp",
					"--silence-detect", "--subscribe-keyspace", "--thread-stack"}
				if !reflect.DeepEqual(c.Unimplemented, want) {
					t.Errorf("unimplemented = %v, want %v", c.Unimplemented, want)
				}
				if c.TOS != 184 || c.MaxLoad != 3.5 || c.MediaNumThreads != 3 || c.DTMFLogDest != "127.0.0.1:9" ||
					c.MaxCPU != 90.5 || c.MaxBandwidth != 1000000 || c.ControlTOS != 32 {
					t.Errorf("TOS %d (-T), max-load %v, media threads %d, DTMF log %q, max-cpu %v, max-bandwidth %d, control TOS %d",
						c.TOS, c.MaxLoad, c.MediaNumThreads, c.DTMFLogDest, c.MaxCPU, c.MaxBandwidth, c.ControlTOS)
				}
				if !c.NoFallback {
					t.Error("-F did not set no-fallback")
				}
				if c.SubsystemLogLevels["ice"] != 7 || len(c.SubsystemLogLevels) != 1 {
					t.Errorf("subsystem log levels %v, want ice 7", c.SubsystemLogLevels)
				}
			},
		},
		{
			name: "system interface name and named IPv6 bracket listener",
			args: []string{"--config-file=none", "--interface=pub/lo", "--listen-ng=[::1]:2223"},
			check: func(t *testing.T, c *Config) {
				found := false
				for _, i := range c.Interfaces {
					if i.Name != "pub" || i.Address != i.Advertised {
						t.Errorf("interface %+v", i)
					}
					if i.Address == mustAddr("127.0.0.1") {
						found = true
					}
				}
				if !found {
					t.Errorf("lo did not resolve to 127.0.0.1: %+v", c.Interfaces)
				}
				if c.ListenNG != "[::1]:2223" {
					t.Errorf("listen-ng = %q", c.ListenNG)
				}
			},
		},
		{
			name: "stray arguments kept",
			args: append(base[:len(base):len(base)], "extra", "--", "-x"),
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Args, []string{"extra", "-x"}) {
					t.Errorf("args = %v", c.Args)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			tc.check(t, c)
		})
	}
}

// TestParseDTLS: the DTLS options and --software-id.
func TestParseDTLS(t *testing.T) {
	c, err := Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DTLSCertRSA || c.DTLSSHA1 || c.DTLSRSAKeySize != 2048 || c.DTLSMTU != 1200 {
		t.Errorf("defaults: RSA %v SHA-1 %v bits %d MTU %d", c.DTLSCertRSA, c.DTLSSHA1, c.DTLSRSAKeySize, c.DTLSMTU)
	}
	c, err = Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-cert-cipher=rsa",
		"--dtls-rsa-key-size=3072", "--dtls-signature=SHA-1", "--dtls-mtu=1400", "--software-id=edge 7/b.x"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.DTLSCertRSA || !c.DTLSSHA1 || c.DTLSRSAKeySize != 3072 || c.DTLSMTU != 1400 || c.SoftwareID != "edge-7-b-x" ||
		slices.Contains(c.Unimplemented, "--dtls-mtu") {
		t.Errorf("set: RSA %v SHA-1 %v bits %d MTU %d, unimplemented %v", c.DTLSCertRSA, c.DTLSSHA1, c.DTLSRSAKeySize, c.DTLSMTU, c.Unimplemented)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error
	}{
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--bogus"}, "unknown option --bogus"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-Z"}, "unknown option -Z"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--table"}, "missing argument for --table"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-t"}, "missing argument for -t"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--timeout=5x"}, `cannot parse integer value "5x" for --timeout`},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--port-min=99999999999"}, "out of range"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-tm", "1", "2"}, "for -t"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-Lf"}, "missing argument for -L"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-LfE"}, "missing argument for -L"},
		{[]string{"--config-file=none", "-n", "2223"}, "missing option --interface"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-c", "9900"}, "missing option --listen-tcp"},
		{[]string{"--config-file=none", "-i", "0.0.0.0", "-n", "2223"}, "invalid interface specification"},
		{[]string{"--config-file=none", "-i", "no-such-host.invalid", "-n", "2223"}, "invalid interface specification"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "127.0.0.1:99999"}, "invalid IP or port"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--endpoint-learning=sometimes"}, "endpoint-learning"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "-m", "500", "-M", "400"}, "invalid port range"},
		{[]string{"--config-file=/nonexistent/rtpengine.conf", "-i", "127.0.0.1", "-n", "2223"}, "config file"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-cert-cipher=dsa"}, "invalid --dtls-cert-cipher option ('dsa')"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-signature=md5"}, "invalid --dtls-signature option ('md5')"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-mtu=500"}, "invalid --dtls-mtu (500)"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--mos=XQ"}, "invalid --mos option ('XQ')"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-rsa-key-size=-1"}, "invalid --dtls-rsa-key-size (-1)"},
		{[]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--dtls-cert-cipher=RSA", "--dtls-rsa-key-size=512"}, "invalid --dtls-rsa-key-size (512)"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-fh"}, {"-?"}, {"--help-all"}} {
		if _, err := Parse(args); !errors.Is(err, ErrHelp) {
			t.Errorf("Parse(%q) = %v, want ErrHelp", args, err)
		}
	}
	for _, args := range [][]string{{"--version"}, {"-v"}, {"-fv"}} {
		if _, err := Parse(args); !errors.Is(err, ErrVersion) {
			t.Errorf("Parse(%q) = %v, want ErrVersion", args, err)
		}
	}
}

const sampleConf = `# rtpengine config as shipped, trimmed
[rtpengine]
table = 0
# no-fallback = false
interface = internal/127.0.0.1;external/127.0.0.2!192.0.2.1;
listen-ng = 127.0.0.1:2223
listen-cli = 127.0.0.1:9900   
port-min = 32000
port-max = 32100
log-level = 5
foreground = true
log-stderr = false
delete-delay = 12
silence-detect = 0.05
pidfile = /run/rtpengine\sx.pid
some-future-option = 1

[other]
table = 7
port-min = 20000
`

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rtpengine.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	p := writeConf(t, sampleConf)
	c, err := Parse([]string{"--config-file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	want := []Interface{
		{Name: "internal", Address: mustAddr("127.0.0.1"), Advertised: mustAddr("127.0.0.1")},
		{Name: "external", Address: mustAddr("127.0.0.2"), Advertised: mustAddr("192.0.2.1")},
	}
	if !reflect.DeepEqual(c.Interfaces, want) {
		t.Errorf("interfaces = %+v", c.Interfaces)
	}
	if c.Table != 0 || c.ListenNG != "127.0.0.1:2223" || c.ListenCLI != "127.0.0.1:9900" || c.PortMin != 32000 ||
		c.PortMax != 32100 || c.LogLevel != 5 || !c.Foreground || c.LogStderr || c.DeleteDelay != 12*time.Second ||
		c.PidFile != "/run/rtpengine x.pid" || c.ConfigFile != p {
		t.Errorf("config = %+v", c)
	}
	if !reflect.DeepEqual(c.Unimplemented, []string{"--silence-detect"}) {
		t.Errorf("unimplemented = %v", c.Unimplemented)
	}

	// The command line wins, and a list given there replaces the file's list.
	c, err = Parse([]string{"--config-file", p, "-i", "127.0.0.3", "--port-min=32050", "-L", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Interfaces) != 1 || c.Interfaces[0].Address != mustAddr("127.0.0.3") || c.PortMin != 32050 || c.PortMax != 32100 || c.LogLevel != 7 {
		t.Errorf("override: %+v", c)
	}

	// Another section.
	c, err = Parse([]string{"--config-file=" + p, "--config-section=other", "-i", "127.0.0.1", "-n", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Table != 7 || c.PortMin != 20000 {
		t.Errorf("section other: %+v", c)
	}

	for _, bad := range []string{
		"[rtpengine]\nforeground = yes\n",
		"[rtpengine]\nport-min = 12x\n",
		"interface = 127.0.0.1\n",
		"[rtpengine]\njust some words\n",
		"[elsewhere]\ntable = 1\n",
		"[rtpengine]\npidfile = a\\qb\n",
	} {
		if _, err := Parse([]string{"--config-file=" + writeConf(t, bad), "-i", "127.0.0.1", "-n", "1"}); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
}

func TestTableCoversRtpengineHelp(t *testing.T) {
	// A sample of rtpengine 10.5 --help entries, long and short, with and without values.
	for _, long := range []string{"redis-delete-async-interval", "mqtt-publish-scope", "janus-secret", "log-mark-suffix",
		"dtx-cn-params", "cn-payload", "save-interface-ports", "listen-tcp-ng", "graphite-interval", "xmlrpc-format"} {
		found := false
		for _, n := range OptionNames() {
			found = found || n == long
		}
		if !found {
			t.Errorf("option --%s missing", long)
		}
	}
	idx := newOptionIndex()
	for _, s := range "vLEpftFiSklunNcgGTosamMrwqybxd" {
		if idx.byShort[byte(s)] == nil {
			t.Errorf("short option -%c missing", s)
		}
	}
	if len(optionTable) != 141 {
		t.Errorf("table has %d options, rtpengine 10.5 --help lists 141 (without --help)", len(optionTable))
	}
	if !Implemented("interface") || Implemented("redis") || Implemented("nope") {
		t.Error("Implemented() wrong")
	}
	u := Usage("mediad")
	if !strings.Contains(u, "--listen-ng") || !strings.Contains(u, "--redis-write") {
		t.Errorf("usage misses options:\n%s", u)
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("--config-file=none -t -1 -i 203.0.113.1 -n 2223 -c 12345 -f -L 7 -E -u 2222")
	f.Add("-fEL 7 -t-1 --timeout=5 -- x")
	f.Add("--interface=a/b!c -m0x10 -M 010")
	f.Fuzz(func(t *testing.T, s string) {
		idx := newOptionIndex()
		occs, _, err := parseArgs(idx, strings.Fields(s))
		if err != nil {
			return
		}
		for _, o := range occs {
			if o.opt == nil {
				t.Fatalf("nil option for %q", s)
			}
		}
	})
}

func FuzzKeyFile(f *testing.F) {
	f.Add(sampleConf)
	f.Add("[rtpengine]\ninterface = a\\;b;c\\s;\n")
	f.Fuzz(func(t *testing.T, s string) {
		kf, err := parseKeyFile([]byte(s))
		if err != nil {
			return
		}
		for _, g := range kf {
			for k, v := range g {
				for _, kind := range []argKind{kindNone, kindInt, kindDouble, kindString, kindStrings} {
					_, _ = fileValue(kind, v, k)
				}
			}
		}
	})
}

// TestDebianConfigFile parses the config file Debian's rtpengine-daemon
// package installs, with both of its sections.
func TestDebianConfigFile(t *testing.T) {
	const path = "/etc/rtpengine/rtpengine.conf"
	if _, err := os.Stat(path); err != nil {
		t.Skip("no Debian rtpengine config (make deps installs rtpengine-daemon): ", err)
	}
	c, err := Parse([]string{"--config-file", path, "--config-section=rtpengine-testing"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Table != -1 || !c.Foreground || !c.LogStderr || c.LogLevel != 7 || c.ListenNG != ":2223" {
		t.Errorf("rtpengine-testing section: %+v", c)
	}
	// The main section uses "interface = any", which needs a non-loopback
	// interface; give one on the command line so the rest is checked anywhere.
	c, err = Parse([]string{"--config-file", path, "-i", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenNG != "localhost:2223" || c.ListenCLI != "localhost:2224" || c.ListenHTTP != "localhost:2225" || c.Table != 0 {
		t.Errorf("rtpengine section: %+v", c)
	}
	// Debian's file asks for TOS 184 and a recording spool with the
	// proc method (which the daemon refuses at start, see recording.Open).
	if c.TOS != 184 || c.RecordingDir != "/var/spool/rtpengine" || c.RecordingMethod != "proc" || c.RecordingFormat != "raw" ||
		slices.Contains(c.Unimplemented, "--recording-dir") || slices.Contains(c.Unimplemented, "--tos") {
		t.Errorf("TOS %d, recording %q %q %q, unimplemented = %v", c.TOS, c.RecordingDir, c.RecordingMethod, c.RecordingFormat, c.Unimplemented)
	}
	if _, err := Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223", "--recording-format=pcapng"}); err == nil ||
		!strings.Contains(err.Error(), "recording format") {
		t.Errorf("--recording-format=pcapng: err %v, want an invalid recording format", err)
	}
	for _, bad := range [][]string{{"--tos=256"}, {"-T", "-1"}, {"--control-tos=300"}} {
		if _, err := Parse(append([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "2223"}, bad...)); err == nil ||
			!strings.Contains(err.Error(), "TOS value") {
			t.Errorf("%v: err %v, want an invalid TOS value", bad, err)
		}
	}
}

func TestGraphiteOptions(t *testing.T) {
	c, err := Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "-g", "127.0.0.1:2003", "-G", "5",
		"--graphite-prefix=sbc1.", "--graphite-timeout=3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Graphite != "127.0.0.1:2003" || c.GraphiteInterval != 5 || c.GraphitePrefix != "sbc1." || c.GraphiteTimeout != 3 || len(c.Unimplemented) != 0 {
		t.Errorf("graphite %q %d %q %d, unimplemented %v", c.Graphite, c.GraphiteInterval, c.GraphitePrefix, c.GraphiteTimeout, c.Unimplemented)
	}
	for _, bad := range []string{"2003", ":2003", "host"} {
		if _, err := Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--graphite=" + bad}); err == nil || !strings.Contains(err.Error(), "--graphite") {
			t.Errorf("--graphite=%s: %v", bad, err)
		}
	}
}

func TestHomerOptions(t *testing.T) {
	c, err := Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Homer != "" || c.HomerProtocol != "udp" || c.HomerID != 2001 {
		t.Errorf("defaults %q %q %d", c.Homer, c.HomerProtocol, c.HomerID)
	}
	c, err = Parse([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1", "--homer=127.0.0.1:9060", "--homer-protocol=tcp", "--homer-id=7"})
	if err != nil || c.Homer != "127.0.0.1:9060" || c.HomerProtocol != "tcp" || c.HomerID != 7 || len(c.Unimplemented) != 0 {
		t.Errorf("%v %+v", err, c)
	}
	for _, bad := range [][]string{{"--homer=9060"}, {"--homer=127.0.0.1:9060", "--homer-protocol=sctp"}} {
		if _, err := Parse(append([]string{"--config-file=none", "-i", "127.0.0.1", "-n", "1"}, bad...)); err == nil || !strings.Contains(err.Error(), "--homer") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
