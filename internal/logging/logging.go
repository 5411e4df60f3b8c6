// Package logging builds the one slog logger neuroscale uses and routes the
// libraries' own loggers (klog for client-go, Helm's printf logger, k3d's
// logrus) into it, so -v shows everything and the default shows nothing
// but neuroscale's own progress.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// New returns a text logger on w: warnings and errors by default, debug
// with verbose.
func New(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// RouteLibraryLogs sends client-go's klog output, and controller-runtime's logger
// (used by fluxcd/pkg/ssa), through log. Both are process-global, so this
// is called once from the command layer. Without the second,
// controller-runtime prints a "log.SetLogger(...) was never called" stack
// trace straight to the real standard error on first use.
//
// Every library line goes at debug level, errors included: client-go logs
// an error for each request an API server restart refuses, which neuroscale
// retries; what finally fails reaches the user once, as neuroscale's own
// error with a hint. Lines above verbosity MaxLibraryV are dropped even
// with -v: from there on client-go logs what goes over the wire, a
// port-forward's bytes (tokens a sign-in returns through it) and request
// bodies (Secrets) included, and secrets never reach a log.
func RouteLibraryLogs(log *slog.Logger) {
	klog.SetLogger(logr.FromSlogHandler(debugOnly{log.With("lib", "client-go").Handler()}))
	ctrllog.SetLogger(logr.FromSlogHandler(debugOnly{log.With("lib", "controller-runtime").Handler()}))
}

// MaxLibraryV is the highest klog/logr verbosity a library line may have
// to be logged, even with -v: 4 is klog's "debug"; 5 and up trace
// requests, and 7 and up their contents (a port-forward's bytes, request
// bodies), which can carry tokens and Secrets.
const MaxLibraryV = 4

// debugOnly lowers every record to debug level and drops those above
// MaxLibraryV (logr gives V(n) to slog as level -n).
type debugOnly struct{ slog.Handler }

func (h debugOnly) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= -MaxLibraryV && h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugOnly) Handle(ctx context.Context, r slog.Record) error {
	// logr sends errors without asking Enabled first.
	if r.Level < -MaxLibraryV || !h.Handler.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h debugOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugOnly{h.Handler.WithAttrs(attrs)}
}

func (h debugOnly) WithGroup(name string) slog.Handler { return debugOnly{h.Handler.WithGroup(name)} }

// Printf adapts log to the printf-style loggers Helm's action package
// takes; the messages go at debug level.
func Printf(log *slog.Logger, lib string) func(format string, v ...any) {
	l := log.With("lib", lib)
	return func(format string, v ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug(fmt.Sprintf(format, v...))
		}
	}
}
