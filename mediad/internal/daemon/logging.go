package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"math"
	"strings"

	"sipmedia/mediad/internal/config"
	"sipmedia/mediad/internal/loglevel"
)

// NewLevels returns the log levels of cfg: -L for every subsystem but
// those given a --log-level-NAME.
func NewLevels(cfg *config.Config) *loglevel.Levels {
	return loglevel.New(cfg.LogLevel, cfg.SubsystemLogLevels)
}

// NewLogger builds the daemon's logger: with -E text lines on w
// (stderr), timestamped unless --no-log-timestamps; without it, as
// rtpengine, syslog with the --log-facility and warnings and worse on w
// too (only on w if no syslog daemon listens, saying so). Each record is
// filtered by the level of its logger's subsystem in levels (which the
// CLI's "set loglevel" and the signals change; nil = cfg's, fixed).
// Lines longer than --max-log-line-length are broken, values that
// identify calls and media are enclosed in --log-mark-prefix/-suffix. An
// unknown facility in any of the --log-facility options is an error.
func NewLogger(cfg *config.Config, w io.Writer, levels *loglevel.Levels) (*slog.Logger, error) {
	if levels == nil {
		levels = NewLevels(cfg)
	}
	// levels filters; the handlers below let everything through.
	opts := &slog.HandlerOptions{Level: slog.Level(math.MinInt), ReplaceAttr: replaceAttr(cfg)}
	// The facilities of the CDR, RTCP and DTMF logs are checked here too,
	// so that a bad name stops mediad before it binds anything.
	for opt, name := range map[string]string{"log-facility-cdr": cfg.LogFacilityCDR,
		"log-facility-rtcp": cfg.LogFacilityRTCP, "log-facility-dtmf": cfg.LogFacilityDTMF} {
		if _, err := ParseFacility(name, opt); err != nil {
			return nil, err
		}
	}
	max := cfg.MaxLogLineLength
	if !cfg.LogStderr {
		fac, err := ParseFacility(cfg.LogFacility, "log-facility")
		if err != nil {
			return nil, err
		}
		if max == 0 {
			max = 500
		}
		sw, err := syslog.New(fac|syslog.LOG_INFO, "mediad")
		if err == nil {
			warn := *opts
			warn.Level = slog.LevelWarn
			return slog.New(levels.Handler(slog.NewMultiHandler(newSyslogHandler(sw, opts, max),
				slog.NewTextHandler(lineBreaker{w, max}, &warn)))), nil
		}
		fmt.Fprintf(w, "mediad: no syslog (%v): logging to stderr (-E)\n", err)
	}
	return slog.New(levels.Handler(slog.NewTextHandler(lineBreaker{w, max}, opts))), nil
}

// sensitiveKeys are the attributes --log-mark-prefix/-suffix enclose:
// what rtpengine marks (call IDs, tags, media endpoints, SSRCs, SDP, NG
// message dumps).
var sensitiveKeys = map[string]bool{"call-id": true, "tag": true, "tags": true, "from-tag": true, "to-tag": true,
	"from-tags": true, "remote": true, "flow": true, "ssrc": true, "sdp": true, "dump": true,
	"in-key": true, "in-salt": true, "out-key": true, "out-salt": true}

// replaceAttr drops the time (--no-log-timestamps) and marks sensitive
// values; nil when neither is asked for.
func replaceAttr(cfg *config.Config) func([]string, slog.Attr) slog.Attr {
	noTime, pre, suf := cfg.NoLogTimestamps, cfg.LogMarkPrefix, cfg.LogMarkSuffix
	if !noTime && pre == "" && suf == "" {
		return nil
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		switch {
		case noTime && len(groups) == 0 && a.Key == slog.TimeKey:
			return slog.Attr{}
		case (pre != "" || suf != "") && sensitiveKeys[a.Key]:
			a.Value = slog.StringValue(pre + a.Value.String() + suf)
		}
		return a
	}
}

// breakLine cuts line into pieces of at most max bytes, as rtpengine's
// --max-log-line-length: "piece ...", "... piece ...", "... piece" (max
// <= 0: never).
func breakLine(line string, max int) []string {
	if max <= 0 || len(line) <= max {
		return []string{line}
	}
	var out []string
	infix := ""
	for len(line) > max {
		out = append(out, infix+line[:max]+" ...")
		line, infix = line[max:], "... "
	}
	return append(out, infix+line)
}

// lineBreaker writes a text handler's lines (one per Write) broken at
// max bytes.
type lineBreaker struct {
	w   io.Writer
	max int
}

func (b lineBreaker) Write(p []byte) (int, error) {
	if b.max <= 0 || len(p) <= b.max+1 {
		return b.w.Write(p)
	}
	var out []byte
	for _, piece := range breakLine(strings.TrimSuffix(string(p), "\n"), b.max) {
		out = append(append(out, piece...), '\n')
	}
	if _, err := b.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
