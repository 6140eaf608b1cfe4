package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"

	"sipmedia/mediad/internal/config"
)

// LevelNotice is syslog's notice (5), between info and warning.
const LevelNotice = slog.LevelInfo + 2

// SlogLevel maps rtpengine's -L syslog level (0 emerg .. 7 debug) to the
// lowest slog level that is logged.
func SlogLevel(l int) slog.Level {
	switch {
	case l >= 7:
		return slog.LevelDebug
	case l == 6:
		return slog.LevelInfo
	case l == 5:
		return LevelNotice
	case l == 4:
		return slog.LevelWarn
	case l == 3:
		return slog.LevelError
	default: // crit, alert, emerg: only what is worse than an error
		return slog.LevelError + 4
	}
}

// NewLogger builds the daemon's logger: with -E text lines on w
// (stderr), timestamped unless --no-log-timestamps; without it, as
// rtpengine, syslog with the --log-facility (on w if no syslog daemon
// listens, saying so). The level comes from -L, held in level (which the
// CLI's "set loglevel" changes; nil = fixed). An unknown facility in any
// of the --log-facility options is an error.
func NewLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) (*slog.Logger, error) {
	if level == nil {
		level = new(slog.LevelVar)
	}
	level.Set(SlogLevel(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.NoLogTimestamps {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	// The facilities of the CDR, RTCP and DTMF logs are checked here too,
	// so that a bad name stops mediad before it binds anything.
	for opt, name := range map[string]string{"log-facility-cdr": cfg.LogFacilityCDR,
		"log-facility-rtcp": cfg.LogFacilityRTCP, "log-facility-dtmf": cfg.LogFacilityDTMF} {
		if _, err := ParseFacility(name, opt); err != nil {
			return nil, err
		}
	}
	if !cfg.LogStderr {
		fac, err := ParseFacility(cfg.LogFacility, "log-facility")
		if err != nil {
			return nil, err
		}
		sw, err := syslog.New(fac|syslog.LOG_INFO, "mediad")
		if err == nil {
			return slog.New(newSyslogHandler(sw, opts)), nil
		}
		fmt.Fprintf(w, "mediad: no syslog (%v): logging to stderr (-E)\n", err)
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
