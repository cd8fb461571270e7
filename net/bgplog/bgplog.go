// Package bgplog adapts GoBGP's logger interface to log/slog, so that the BGP speakers inside
// Ferrite's binaries log through the same handler as the rest of the process.
package bgplog

import (
	"context"
	"log/slog"
	"os"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// Logger is a gobgp log.Logger writing to a slog.Logger. GoBGP is chatty at info level (every
// session state change), so its info messages are logged at slog's debug level unless the
// level is raised with SetLevel.
type Logger struct {
	log   *slog.Logger
	level gobgplog.LogLevel
}

// New returns a Logger writing to l (slog.Default when nil) with GoBGP messages up to warnings.
func New(l *slog.Logger) *Logger {
	if l == nil {
		l = slog.Default()
	}
	return &Logger{log: l, level: gobgplog.WarnLevel}
}

func (l *Logger) emit(level gobgplog.LogLevel, slevel slog.Level, msg string, fields gobgplog.Fields) {
	if level > l.level {
		return
	}
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	l.log.Log(context.Background(), slevel, "gobgp: "+msg, args...)
}

// Panic logs and panics, as GoBGP expects.
func (l *Logger) Panic(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.PanicLevel, slog.LevelError, msg, fields)
	panic(msg)
}

// Fatal logs and exits, as GoBGP expects.
func (l *Logger) Fatal(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.FatalLevel, slog.LevelError, msg, fields)
	os.Exit(1)
}

// Error logs at error level.
func (l *Logger) Error(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.ErrorLevel, slog.LevelError, msg, fields)
}

// Warn logs at warning level.
func (l *Logger) Warn(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.WarnLevel, slog.LevelWarn, msg, fields)
}

// Info logs GoBGP's info messages at slog debug level (see Logger).
func (l *Logger) Info(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.InfoLevel, slog.LevelDebug, msg, fields)
}

// Debug logs at debug level.
func (l *Logger) Debug(msg string, fields gobgplog.Fields) {
	l.emit(gobgplog.DebugLevel, slog.LevelDebug, msg, fields)
}

// SetLevel sets the most verbose GoBGP level that is logged.
func (l *Logger) SetLevel(level gobgplog.LogLevel) { l.level = level }

// GetLevel returns the most verbose GoBGP level that is logged.
func (l *Logger) GetLevel() gobgplog.LogLevel { return l.level }
