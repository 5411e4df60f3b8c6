package k3d

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	k3dlog "github.com/k3d-io/k3d/v5/pkg/logger"
)

func TestRouteK3dLog(t *testing.T) {
	// k3d's logger is process-global: leave it discarding for other tests.
	t.Cleanup(func() { routeK3dLog(slog.New(slog.DiscardHandler)) })
	tests := []struct {
		name  string
		level slog.Level
		log   func()
		want  []string // substrings of the output, in order; none means no output
	}{
		{name: "warning keeps its level", level: slog.LevelWarn, log: func() { k3dlog.Log().Warnf("registry %s slow", "x") },
			want: []string{"level=WARN", `msg="registry x slow"`, "lib=k3d"}},
		{name: "error keeps its level", level: slog.LevelWarn, log: func() { k3dlog.Log().Errorln("boom") },
			want: []string{"level=ERROR", "msg=boom"}},
		{name: "info is debug detail, hidden by default", level: slog.LevelWarn, log: func() { k3dlog.Log().Infoln("Prep: Network") }},
		{name: "info shows with -v", level: slog.LevelDebug, log: func() { k3dlog.Log().Infoln("Prep: Network") },
			want: []string{"level=DEBUG", `msg="Prep: Network"`}},
		{name: "trace never", level: slog.LevelDebug, log: func() { k3dlog.Log().Traceln("every byte") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			routeK3dLog(log)
			routeK3dLog(log) // a second provider must not double every line
			tt.log()
			out := buf.String()
			if len(tt.want) == 0 {
				if out != "" {
					t.Errorf("got %q, want nothing", out)
				}
				return
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("got %d lines, want 1: %q", strings.Count(out, "\n"), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}
