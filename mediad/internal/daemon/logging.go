package daemon

import (
	"io"
	"log/slog"

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

// NewLogger builds the daemon's logger: text lines on w (stderr; mediad
// has no syslog output), level from -L held in level (which the CLI's
// "set loglevel" changes; nil = fixed), timestamps unless
// --no-log-timestamps.
func NewLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
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
	return slog.New(slog.NewTextHandler(w, opts))
}
