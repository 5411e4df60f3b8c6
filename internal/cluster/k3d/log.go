package k3d

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/sirupsen/logrus"

	k3dlog "github.com/k3d-io/k3d/v5/pkg/logger"
)

// routeK3dLog sends k3d's logging into log. k3d logs through one
// process-global logrus logger that it reaches from deep inside its client
// and runtime packages, so there is no per-call logger to hand it. We
// replace (not add to) its hooks so that constructing a second Provider in
// one process re-points the output instead of printing every line twice,
// and we silence its own writer so nothing reaches the terminal except
// through neuroscale's handler.
func routeK3dLog(log *slog.Logger) {
	l := k3dlog.Log()
	l.SetOutput(io.Discard)
	hooks := make(logrus.LevelHooks)
	hooks.Add(&slogHook{log: log.With("lib", "k3d")})
	l.ReplaceHooks(hooks)
	// Formatting a message costs even when nobody shows it; k3d logs a lot
	// at debug and trace, so only let through what our logger keeps.
	if log.Enabled(context.Background(), slog.LevelDebug) {
		l.SetLevel(logrus.DebugLevel)
	} else {
		l.SetLevel(logrus.WarnLevel)
	}
}

// slogHook forwards logrus entries to an slog logger.
type slogHook struct {
	log *slog.Logger
}

// Levels implements logrus.Hook.
func (h *slogHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook. k3d's Info lines are step-by-step detail
// ("Prep: Network") that neuroscale's own progress already covers, so they
// go to debug; its warnings and errors keep their level.
func (h *slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch e.Level {
	case logrus.WarnLevel:
		level = slog.LevelWarn
	case logrus.ErrorLevel, logrus.FatalLevel, logrus.PanicLevel:
		level = slog.LevelError
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]any, 0, 2*len(e.Data))
	for k, v := range e.Data {
		attrs = append(attrs, k, v)
	}
	h.log.Log(ctx, level, strings.TrimSpace(e.Message), attrs...)
	return nil
}
