package dag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
)

// recorder is a progress.Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *recorder) Report(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Close() error { return nil }

func (r *recorder) final(stage string) (progress.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Stage == stage && e.State.Final() {
			return e, true
		}
	}
	return progress.Event{}, false
}

func stage(name string, needs []string, fn func(ctx context.Context) error) Stage {
	if fn == nil {
		fn = func(context.Context) error { return nil }
	}
	return FuncStage{StageName: name, StageNeeds: needs, Fn: fn}
}

func fail(msg string) func(context.Context) error {
	return func(context.Context) error { return errors.New(msg) }
}

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stages []Stage
		want   map[string]progress.State
		errHas []string
	}{
		{
			name:   "chain succeeds",
			stages: []Stage{stage("a", nil, nil), stage("b", []string{"a"}, nil), stage("c", []string{"b"}, nil)},
			want:   map[string]progress.State{"a": progress.StateReady, "b": progress.StateReady, "c": progress.StateReady},
		},
		{
			name: "failure skips dependents, transitively, and lets independent stages finish",
			stages: []Stage{
				stage("cert-manager", nil, nil),
				stage("kserve", []string{"cert-manager"}, fail("webhook kserve-webhook-server-service has no ready endpoints")),
				stage("kyverno", []string{"kserve"}, nil),
				stage("demo", []string{"kserve", "kyverno"}, nil),
				stage("argocd", nil, nil),
				stage("backstage", nil, nil),
			},
			want: map[string]progress.State{"cert-manager": progress.StateReady, "kserve": progress.StateFailed, "kyverno": progress.StateSkipped,
				"demo": progress.StateSkipped, "argocd": progress.StateReady, "backstage": progress.StateReady},
			errHas: []string{"kserve: webhook kserve-webhook-server-service has no ready endpoints",
				"kyverno: skipped because kserve failed", "demo: skipped because kserve failed"},
		},
		{
			name: "every failure is reported",
			stages: []Stage{
				stage("a", nil, fail("a broke")),
				stage("b", nil, fail("b broke")),
				stage("c", nil, nil),
			},
			want:   map[string]progress.State{"a": progress.StateFailed, "b": progress.StateFailed, "c": progress.StateReady},
			errHas: []string{"a: a broke", "b: b broke"},
		},
		{
			name: "no change is success",
			stages: []Stage{
				stage("a", nil, func(context.Context) error { return &NoChange{Reason: "unchanged"} }),
				stage("b", []string{"a"}, nil),
			},
			want: map[string]progress.State{"a": progress.StateUnchanged, "b": progress.StateReady},
		},
		{
			name:   "a panic fails its stage only",
			stages: []Stage{stage("a", nil, func(context.Context) error { panic("boom") }), stage("b", nil, nil)},
			want:   map[string]progress.State{"a": progress.StateFailed, "b": progress.StateReady},
			errHas: []string{"a: panic: boom"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			rep, err := Run(context.Background(), tt.stages, RunOptions{Sink: rec})
			if len(tt.errHas) == 0 && err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, s := range tt.errHas {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v does not contain %q", err, s)
				}
			}
			for name, want := range tt.want {
				if got := rep.Stage(name).State; got != want {
					t.Errorf("stage %s: state %s, want %s", name, got, want)
				}
				ev, ok := rec.final(name)
				if !ok || ev.State != want {
					t.Errorf("stage %s: final event %+v, want state %s", name, ev, want)
				}
			}
		})
	}
}

func TestRunParallel(t *testing.T) {
	t.Parallel()
	// a and b can only finish if they run at the same time.
	var barrier sync.WaitGroup
	barrier.Add(2)
	meet := func(ctx context.Context) error {
		barrier.Done()
		done := make(chan struct{})
		go func() { barrier.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("ran alone: independent stages are not parallel")
		}
	}
	started := map[string]bool{}
	var mu sync.Mutex
	after := func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		started["c"] = true
		return nil
	}
	_, err := Run(context.Background(), []Stage{stage("a", nil, meet), stage("b", nil, meet), stage("c", []string{"a", "b"}, after)}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !started["c"] {
		t.Fatal("c did not run")
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inA := make(chan struct{})
	a := func(ctx context.Context) error {
		close(inA)
		<-ctx.Done()
		return ctx.Err()
	}
	go func() { <-inA; cancel() }()
	rep, err := Run(ctx, []Stage{stage("a", nil, a), stage("b", []string{"a"}, nil)}, RunOptions{})
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v is not an InterruptedError", err)
	}
	if rep.Stage("a").State != progress.StateCancelled || rep.Stage("b").State != progress.StateCancelled {
		t.Fatalf("states a=%s b=%s, want cancelled", rep.Stage("a").State, rep.Stage("b").State)
	}
	if ie.Hint() == "" || !strings.Contains(ie.Error(), "a") {
		t.Fatalf("unhelpful interruption: %v / %q", ie, ie.Hint())
	}
	if len(ie.Doing) != 0 {
		t.Errorf("a bare cancellation says what a was doing: %v", ie.Doing)
	}
}

// TestRunCancelSaysWhatWasDoing interrupts a stage that says what it was
// doing (a wait naming what was not ready, with a hint): the run's error
// and hint carry it; a stage stopped bare adds nothing.
func TestRunCancelSaysWhatWasDoing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var in sync.WaitGroup
	in.Add(2)
	waiting := func(ctx context.Context) error {
		in.Done()
		<-ctx.Done()
		return fmt.Errorf("step s: %w", diag.WithHint(fmt.Errorf("widget w still not ready: %w", ctx.Err()), "kubectl describe widget w"))
	}
	bare := func(ctx context.Context) error {
		in.Done()
		<-ctx.Done()
		return ctx.Err()
	}
	go func() { in.Wait(); cancel() }()
	_, err := Run(ctx, []Stage{stage("a", nil, waiting), stage("b", nil, bare)}, RunOptions{})
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v is not an InterruptedError", err)
	}
	if want := "a: interrupted: step s: widget w still not ready"; !strings.Contains(ie.Error(), want) || len(ie.Doing) != 1 {
		t.Errorf("error %q, want it to say %q (and nothing of b: %v)", ie.Error(), want, ie.Doing)
	}
	if !strings.HasPrefix(ie.Hint(), "kubectl describe widget w; run neuroscale up again") {
		t.Errorf("hint %q, want the stage's first", ie.Hint())
	}
}

func TestCheckGraph(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stages []Stage
		errHas string
	}{
		{"ok", []Stage{stage("a", nil, nil), stage("b", []string{"a"}, nil)}, ""},
		{"duplicate", []Stage{stage("a", nil, nil), stage("a", nil, nil)}, `"a" is declared twice`},
		{"unknown need", []Stage{stage("a", []string{"x"}, nil)}, `needs "x"`},
		{"cycle", []Stage{stage("a", []string{"c"}, nil), stage("b", []string{"a"}, nil), stage("c", []string{"b"}, nil)}, "cycle: a -> c -> b -> a"},
		{"self", []Stage{stage("a", []string{"a"}, nil)}, "cycle: a -> a"},
		{"phases ok", platformOf(nil, nil, nil), ""},
		{"unknown phase", []Stage{phasedStage("a", nil, Phase{Name: "x"}), stage("b", []string{"a/y"}, nil)}, `needs "a/y"`},
		{"own phase", []Stage{phasedStage("a", nil, Phase{Name: "x"}, Phase{Name: "y", Needs: []string{"a/x"}})}, "its own phase"},
		{"duplicate phase", []Stage{phasedStage("a", nil, Phase{Name: "x"}, Phase{Name: "x"})}, "declared twice"},
		{"cycle through phases", []Stage{
			phasedStage("a", nil, Phase{Name: "crds"}, Phase{Name: "rest", Needs: []string{"b"}}),
			phasedStage("b", nil, Phase{Name: "chart", Needs: []string{"a/rest"}}),
		}, "cycle"},
		{"no cycle through an early phase", []Stage{
			phasedStage("a", nil, Phase{Name: "crds"}, Phase{Name: "rest", Needs: []string{"b"}}),
			phasedStage("b", nil, Phase{Name: "chart", Needs: []string{"a/crds"}}),
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckGraph(tt.stages)
			if tt.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("got %v, want error containing %q", err, tt.errHas)
			}
		})
	}
}

func TestMiddlewareWrapsEveryRun(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	mw := func(tag string) Middleware {
		return func(next StageFunc) StageFunc {
			return func(ctx context.Context, s Stage) error {
				mu.Lock()
				order = append(order, tag+">"+s.Name())
				mu.Unlock()
				return next(ctx, s)
			}
		}
	}
	inject := func(next StageFunc) StageFunc {
		return func(ctx context.Context, s Stage) error {
			if s.Name() == "b" {
				return errors.New("injected")
			}
			return next(ctx, s)
		}
	}
	rep, err := Run(context.Background(), []Stage{stage("a", nil, nil), stage("b", []string{"a"}, nil)},
		RunOptions{Middleware: []Middleware{mw("outer"), mw("inner"), inject}})
	if err == nil || !strings.Contains(err.Error(), "b: injected") {
		t.Fatalf("error %v, want the injected failure of b", err)
	}
	if rep.Stage("a").State != progress.StateReady {
		t.Fatalf("a: %s", rep.Stage("a").State)
	}
	want := "outer>a inner>a outer>b inner>b"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("middleware order %q, want %q", got, want)
	}
}

func TestCriticalPath(t *testing.T) {
	t.Parallel()
	r := &Report{Stages: []Result{
		{Name: "cert-manager", Duration: 5 * time.Second},
		{Name: "knative", Duration: 4 * time.Second},
		{Name: "kourier", Needs: []string{"knative"}, Duration: 1 * time.Second},
		{Name: "kserve", Needs: []string{"cert-manager", "knative", "kourier"}, Duration: 7 * time.Second},
		{Name: "argocd", Duration: 8 * time.Second},
		{Name: "kyverno", Needs: []string{"kserve"}, Duration: 9 * time.Second},
		{Name: "demo", Needs: []string{"kserve", "kyverno"}, Duration: time.Second},
	}}
	path, d := r.CriticalPath()
	if got := strings.Join(path, ","); got != "cert-manager,kserve,kyverno,demo" || d != 22*time.Second {
		t.Fatalf("critical path %s (%s), want cert-manager,kserve,kyverno,demo (22s)", got, d)
	}
}
