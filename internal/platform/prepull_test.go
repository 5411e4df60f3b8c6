package platform

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

type recordingPuller struct {
	mu    sync.Mutex
	pulls []string
}

func (p *recordingPuller) Pull(_ context.Context, ref string) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pulls = append(p.pulls, ref)
	if strings.HasPrefix(ref, "missing") {
		return 0, errors.New("manifest unknown")
	}
	return 1000, nil
}

type warnings struct {
	discardPrinter
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Warning(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

// TestPrePull runs up's pre-pull beside a converge that has not started:
// on k3d by default, on an existing cluster only with --pre-pull, the
// rendered platform's images are pulled, reported as the pre-pull phase's
// images and bytes, and a failed image is a warning.
func TestPrePull(t *testing.T) {
	deploy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "a", "image": "app:1"}, map[string]any{"name": "b", "image": "missing:1"},
		}}}},
	}}
	p := &render.Platform{Components: []*render.Component{{Name: "c", Steps: []*render.Step{{Objects: []*unstructured.Unstructured{deploy}}}}}}
	on, off := true, false
	tests := []struct {
		name     string
		provider string
		flag     *bool
		want     bool
	}{
		{"k3d by default", config.ProviderK3d, nil, true},
		{"k3d turned off", config.ProviderK3d, &off, false},
		{"existing by default", config.ProviderExisting, nil, false},
		{"existing asked for", config.ProviderExisting, &on, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, warn, pl := &recorder{}, &warnings{}, &recordingPuller{}
			ended := make(chan struct{})
			sink := &endSink{recorder: rec, phase: progress.PhasePrePull, ended: ended}
			u := newRun(Options{Sink: sink, Printer: warn, PrePull: tt.flag})
			u.newPuller = func(context.Context, *config.Resolved, *rest.Config) (prepull.Puller, func(), error) {
				return pl, func() {}, nil
			}
			r := &config.Resolved{}
			r.Cluster.Provider = tt.provider
			stop := u.prePull(context.Background(), r, p, nil)
			if tt.want {
				<-ended // converge ends only after the pulls here
			}
			stop()
			if !tt.want {
				if len(pl.pulls) != 0 || len(rec.events) != 0 {
					t.Fatalf("pulled %q, events %v; want nothing", pl.pulls, rec.events)
				}
				return
			}
			slices.Sort(pl.pulls)
			if !slices.Equal(pl.pulls, []string{"app:1", "missing:1"}) {
				t.Errorf("pulled %q", pl.pulls)
			}
			var last progress.Event
			for _, e := range rec.events {
				if e.Phase == progress.PhasePrePull && e.State == progress.StateRunning && e.Message != "" {
					last = e
				}
			}
			if last.Message != "2/2 images" || last.Bytes != 1000 {
				t.Errorf("last progress %+v, want 2/2 images, 1000 bytes", last)
			}
			if len(warn.msgs) != 1 || !strings.Contains(warn.msgs[0], "missing:1") {
				t.Errorf("warnings %q, want one naming missing:1", warn.msgs)
			}
		})
	}
}

// endSink records events and closes ended when phase ends.
type endSink struct {
	*recorder
	phase string
	ended chan struct{}
}

func (s *endSink) Report(e progress.Event) {
	s.recorder.Report(e)
	if e.Phase == s.phase && e.State.Final() {
		close(s.ended)
	}
}
