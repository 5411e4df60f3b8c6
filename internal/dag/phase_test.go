package dag

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/progress"
)

// orderLog records what happened, in order, from any goroutine.
type orderLog struct {
	mu  sync.Mutex
	got []string
}

func (o *orderLog) note(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, s)
}

// list returns what was noted, in order.
func (o *orderLog) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// phased is a Phased stage whose Run begins each phase and runs its step.
type phased struct {
	name   string
	needs  []string
	phases []Phase
	step   func(ctx context.Context, phase string) error
}

func (p *phased) Name() string    { return p.name }
func (p *phased) Needs() []string { return p.needs }
func (p *phased) Phases() []Phase { return p.phases }
func (p *phased) Run(ctx context.Context) error {
	for _, ph := range p.phases {
		if err := Begin(ctx, ph.Name); err != nil {
			return err
		}
		if p.step != nil {
			if err := p.step(ctx, ph.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// The platform's shape: KServe's CRDs go in at once, its controller waits
// for cert-manager; Kyverno's policies wait only for KServe's CRDs; the
// demo waits for both whole stages.
func platformOf(cm func(context.Context) error, kserve, kyverno func(ctx context.Context, phase string) error) []Stage {
	return []Stage{
		stage("cert-manager", nil, cm),
		&phased{name: "kserve", phases: []Phase{{Name: "crds"}, {Name: "controller", Needs: []string{"cert-manager"}}}, step: kserve},
		&phased{name: "kyverno", phases: []Phase{{Name: "chart"}, {Name: "policies", Needs: []string{"kserve/crds"}}}, step: kyverno},
		stage("demo", []string{"kserve", "kyverno"}, nil),
	}
}

func TestPhaseStartsBeforeItsStagesOtherNeeds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{}) // cert-manager stays running until the policies went in
	var order orderLog
	note := order.note
	cm := func(ctx context.Context) error {
		<-release
		note("cert-manager done")
		return nil
	}
	kserve := func(_ context.Context, phase string) error {
		note("kserve/" + phase)
		return nil
	}
	kyverno := func(_ context.Context, phase string) error {
		note("kyverno/" + phase)
		if phase == "policies" {
			close(release)
		}
		return nil
	}
	rec := &recorder{}
	rep, err := Run(context.Background(), platformOf(cm, kserve, kyverno), RunOptions{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	// KServe's controller phase could not begin before cert-manager was
	// done (it waited for the policies): the display said what it waited
	// for, then that it went on.
	var said []string
	for _, e := range rec.events {
		if e.Stage == "kserve" && e.State == progress.StateRunning && e.Message != "" {
			said = append(said, e.Message)
		}
	}
	if strings.Join(said, "; ") != "waiting for cert-manager; controller" {
		t.Errorf("kserve's running messages %q, want waiting for cert-manager, then controller", said)
	}
	got := order.list()
	pos := map[string]int{}
	for i, s := range got {
		pos[s] = i
	}
	// The policies ran while cert-manager was still running (it waited for
	// them), and KServe's controller only after cert-manager was done.
	if pos["kserve/crds"] > pos["kyverno/policies"] || pos["kyverno/policies"] > pos["cert-manager done"] || pos["cert-manager done"] > pos["kserve/controller"] {
		t.Fatalf("order %v: want kserve/crds, kyverno/policies before cert-manager done, before kserve/controller", got)
	}
	for _, name := range []string{"cert-manager", "kserve", "kyverno", "demo"} {
		if st := rep.Stage(name).State; st != progress.StateReady {
			t.Fatalf("%s: %s", name, st)
		}
	}
	if got := rep.Stage("kserve").Phases; len(got) != 2 || got[1].Name != "controller" || got[1].Start.Before(got[0].Start) {
		t.Fatalf("kserve phases %+v", got)
	}
}

func TestPhaseNeedFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		kserve      func(ctx context.Context, phase string) error
		cm          func(ctx context.Context) error
		want        map[string]progress.State
		policiesRan bool
	}{
		{
			name:   "early phase fails: what needs it is skipped",
			kserve: func(_ context.Context, phase string) error { return errors.New("crds refused") },
			want: map[string]progress.State{"cert-manager": progress.StateReady, "kserve": progress.StateFailed,
				"kyverno": progress.StateSkipped, "demo": progress.StateSkipped},
		},
		{
			name: "late need fails: the early phase's dependents still run",
			cm:   fail("cert-manager broke"),
			want: map[string]progress.State{"cert-manager": progress.StateFailed, "kserve": progress.StateSkipped,
				"kyverno": progress.StateReady, "demo": progress.StateSkipped},
			policiesRan: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			ran := false
			kyverno := func(_ context.Context, phase string) error {
				mu.Lock()
				defer mu.Unlock()
				ran = ran || phase == "policies"
				return nil
			}
			rep, err := Run(context.Background(), platformOf(tt.cm, tt.kserve, kyverno), RunOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			for name, want := range tt.want {
				if got := rep.Stage(name).State; got != want {
					t.Errorf("%s: %s, want %s (%v)", name, got, want, rep.Stage(name).Err)
				}
			}
			if ran != tt.policiesRan {
				t.Errorf("policies ran: %v, want %v", ran, tt.policiesRan)
			}
			var skip *SkippedError
			if !errors.As(rep.Stage("demo").Err, &skip) || skip.Because == "" {
				t.Errorf("demo: %v, want a skip naming the failed stage", rep.Stage("demo").Err)
			}
		})
	}
}

func TestPhaseCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kserve := func(_ context.Context, phase string) error {
		if phase == "crds" {
			cancel() // cert-manager never finishes; the controller phase waits for it
		}
		return nil
	}
	cm := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	rep, err := Run(ctx, platformOf(cm, kserve, nil), RunOptions{})
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v is not an InterruptedError", err)
	}
	if st := rep.Stage("kserve").State; st != progress.StateCancelled {
		t.Fatalf("kserve: %s, want cancelled", st)
	}
}

// phasedStage is a Phased stage that only begins its phases.
func phasedStage(name string, needs []string, phases ...Phase) Stage {
	return &phased{name: name, needs: needs, phases: phases}
}

func TestCriticalPathThroughPhases(t *testing.T) {
	t.Parallel()
	r := &Report{Stages: []Result{
		{Name: "cert-manager", Duration: 5 * time.Second},
		{Name: "kserve", Duration: 9 * time.Second, Phases: []PhaseResult{
			{Name: "crds", Duration: 2 * time.Second},
			{Name: "controller", Needs: []string{"cert-manager"}, Duration: 7 * time.Second},
		}},
		{Name: "kyverno", Duration: 10 * time.Second, Phases: []PhaseResult{
			{Name: "chart", Duration: 9 * time.Second},
			{Name: "policies", Needs: []string{"kserve/crds"}, Duration: time.Second},
		}},
		{Name: "demo", Needs: []string{"kserve", "kyverno"}, Duration: time.Second},
	}}
	path, d := r.CriticalPath()
	if got := strings.Join(path, ","); got != "cert-manager,kserve/controller,demo" || d != 13*time.Second {
		t.Fatalf("critical path %s (%s), want cert-manager,kserve/controller,demo (13s)", got, d)
	}
}

// A stage may need an earlier phase of a stage whose later phase needs it
// (the demo needs Kyverno's policies; Kyverno's quota goes in after the
// demo): no cycle at the level of phases, and each runs in that order.
func TestLaterPhaseNeedsStageThatNeedsEarlierPhase(t *testing.T) {
	t.Parallel()
	var order orderLog
	note := order.note
	stages := []Stage{
		&phased{name: "kyverno", phases: []Phase{{Name: "chart"}, {Name: "policies"}, {Name: "quota", Needs: []string{"demo"}}},
			step: func(_ context.Context, phase string) error { note("kyverno/" + phase); return nil }},
		stage("demo", []string{"kyverno/policies"}, func(context.Context) error { note("demo"); return nil }),
	}
	if err := CheckGraph(stages); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), stages, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order.list(), ","); got != "kyverno/chart,kyverno/policies,demo,kyverno/quota" {
		t.Errorf("order %s, want the demo between the policies and the quota", got)
	}
}

// waitSink closes seen when a stage says it waits for the named need.
type waitSink struct {
	need string
	once sync.Once
	seen chan struct{}
}

func (w *waitSink) Report(e progress.Event) {
	if e.Message == "waiting for "+w.need {
		w.once.Do(func() { close(w.seen) })
	}
}

func (w *waitSink) Close() error { return nil }

// A stage that only checks (BeginCheck) waits for its phases' needs but
// not for what a phase only goes in after: Kyverno's no-op check does not
// wait for the demo. The demo here is held until the check got past
// BeginCheck, or (the failure) until the check said it waits for it.
func TestBeginCheckSkipsWhatAPhaseGoesInAfter(t *testing.T) {
	t.Parallel()
	sink := &waitSink{need: "demo", seen: make(chan struct{})}
	checked := make(chan struct{})
	stages := []Stage{
		stage("kserve", nil, nil),
		&checking{name: "kyverno", phases: []Phase{{Name: "chart", Needs: []string{"kserve"}}, {Name: "quota", Needs: []string{"demo"}, After: []string{"demo"}}}, checked: checked},
		stage("demo", []string{"kyverno/chart"}, func(ctx context.Context) error {
			select {
			case <-checked:
			case <-sink.seen:
			}
			return nil
		}),
	}
	if _, err := Run(context.Background(), stages, RunOptions{Sink: sink}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.seen:
		t.Error("the check waited for the demo, which its quota only goes in after")
	default:
	}
}

// checking is a Phased stage that only checks: BeginCheck of its last
// phase, then closes checked.
type checking struct {
	name    string
	phases  []Phase
	checked chan struct{}
}

func (c *checking) Name() string    { return c.name }
func (c *checking) Needs() []string { return nil }
func (c *checking) Phases() []Phase { return c.phases }
func (c *checking) Run(ctx context.Context) error {
	err := BeginCheck(ctx, c.phases[len(c.phases)-1].Name)
	close(c.checked)
	return err
}
