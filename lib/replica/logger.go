package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lni/dragonboat/v4/logger"
)

var installOnce sync.Once

// installLogger routes Dragonboat's package loggers into l, keeping its
// warnings and errors; its info lines are per-entry chatter.
func installLogger(l *slog.Logger) {
	installOnce.Do(func() {
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			return &dbLogger{l: l.With("raft_pkg", pkg), level: logger.WARNING}
		})
	})
}

type dbLogger struct {
	mu    sync.Mutex
	l     *slog.Logger
	level logger.LogLevel
}

var _ logger.ILogger = (*dbLogger)(nil)

func (d *dbLogger) SetLevel(level logger.LogLevel) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Dragonboat raises its own levels at start; never below WARNING.
	if level > logger.WARNING {
		level = logger.WARNING
	}
	d.level = level
}

func (d *dbLogger) enabled(level logger.LogLevel) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return level <= d.level
}

func (d *dbLogger) logf(level logger.LogLevel, sl slog.Level, format string, args ...any) {
	if d.enabled(level) {
		d.l.Log(context.Background(), sl, fmt.Sprintf(format, args...))
	}
}

func (d *dbLogger) Debugf(format string, args ...any) {
	d.logf(logger.DEBUG, slog.LevelDebug, format, args...)
}
func (d *dbLogger) Infof(format string, args ...any) {
	d.logf(logger.INFO, slog.LevelInfo, format, args...)
}
func (d *dbLogger) Warningf(format string, args ...any) {
	d.logf(logger.WARNING, slog.LevelWarn, format, args...)
}
func (d *dbLogger) Errorf(format string, args ...any) {
	d.logf(logger.ERROR, slog.LevelError, format, args...)
}
func (d *dbLogger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.l.Error(msg)
	panic(msg)
}
