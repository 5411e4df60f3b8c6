// Package dag runs a graph of stages: each starts as soon as every stage
// it needs has succeeded, independent ones in parallel; a failure skips
// only its dependents; cancelling the context stops the run cleanly. It
// reports every state change to a progress.Sink and returns a Report
// (per-stage results, critical path). neuroscale's stages are its
// components (package stages), but the runner knows nothing about them.
package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	clk "k8s.io/utils/clock"

	"github.com/neuroscale-dev/neuroscale/internal/progress"
)

// Stage is one node of the install graph: in neuroscale, one component.
type Stage interface {
	// Name is unique in the graph.
	Name() string
	// Needs names the stages that must succeed before this one starts.
	Needs() []string
	// Run does the work. A *NoChange error means there was nothing to do
	// and is success; ctx is cancelled on Ctrl-C or --timeout.
	Run(ctx context.Context) error
}

// NoChange is returned by a stage that found its work already done, like
// goreleaser's skip: the runner reports it as "unchanged", not as failure.
type NoChange struct {
	// Reason says why nothing was done, e.g. "digest unchanged, healthy".
	Reason string
}

// Error implements error.
func (n *NoChange) Error() string { return n.Reason }

// StageFunc runs one stage; middleware wraps it.
type StageFunc func(ctx context.Context, s Stage) error

// Middleware adds behaviour around every stage's Run (logging, timing,
// fault injection in tests) without the stages knowing.
type Middleware func(next StageFunc) StageFunc

// RunOptions configure Run.
type RunOptions struct {
	// Sink receives every state change; nil reports nothing.
	Sink progress.Sink
	// Clock measures durations; nil is the system clock.
	Clock clk.PassiveClock
	// Log gets a debug line per stage start and end; nil logs nothing.
	Log *slog.Logger
	// Middleware wraps every stage's Run, outermost first.
	Middleware []Middleware
}

// Result is the outcome of one stage.
type Result struct {
	Name     string
	Needs    []string
	State    progress.State
	Start    time.Time
	Duration time.Duration
	// Err is the failure, skip or cancellation; nil when OK.
	Err error
	// Phases are a Phased stage's phases, in order.
	Phases []PhaseResult
}

// Report is the outcome of a run.
type Report struct {
	// Stages are in the order they were given to Run.
	Stages []Result
	// Wall is the run's elapsed time.
	Wall time.Duration
}

// Stage returns the named stage's result, or nil.
func (r *Report) Stage(name string) *Result {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// CriticalPath returns the chain of stages, through Needs, whose summed
// durations is the longest, and that sum: the least wall time any schedule
// of this graph could take with these stage durations. A Phased stage
// counts phase by phase ("stage/phase", each its work without its wait),
// so a chain may pass through a stage's early phase only.
func (r *Report) CriticalPath() ([]string, time.Duration) {
	durations := map[string]time.Duration{}
	needs := map[string][]string{}
	for _, s := range r.Stages {
		if len(s.Phases) == 0 {
			durations[s.Name], needs[s.Name] = s.Duration, s.Needs
			continue
		}
		prev := ""
		for i, ph := range s.Phases {
			name := s.Name + "/" + ph.Name
			var n []string
			if i == 0 {
				n = append(n, s.Needs...)
			} else {
				n = append(n, prev)
			}
			durations[name], needs[name] = ph.Duration, append(n, ph.Needs...)
			prev = name
		}
		// The stage itself is done with its last phase.
		needs[s.Name] = []string{prev}
	}
	// A report comes from a checked graph: it has no cycle.
	path, total, _ := CriticalPath(durations, needs)
	out := path[:0]
	for _, n := range path {
		if _, ok := durations[n]; ok {
			out = append(out, n)
		}
	}
	return out, total
}

// CriticalPath returns the longest chain through the graph needs (first
// stage first), weighting each stage by its duration, and that chain's
// sum. It is the lower bound of a parallel run: no scheduler can finish
// before its slowest chain of dependent stages has run one after another.
// Stages without a duration count as zero, so a skipped stage does not
// hide a chain through it; equal chains are broken by name. A cycle is an
// error.
func CriticalPath(durations map[string]time.Duration, needs map[string][]string) ([]string, time.Duration, error) {
	finish := make(map[string]time.Duration, len(needs))
	prev := make(map[string]string, len(needs))
	state := make(map[string]int, len(needs)) // 0 new, 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return &GraphError{Msg: "dependency cycle through " + n}
		case 2:
			return nil
		}
		state[n] = 1
		var best time.Duration
		from := ""
		for _, m := range needs[n] {
			if err := visit(m); err != nil {
				return err
			}
			if finish[m] > best || from == "" {
				best, from = finish[m], m
			}
		}
		finish[n], prev[n], state[n] = best+durations[n], from, 2
		return nil
	}
	names := make([]string, 0, len(needs))
	for n := range needs {
		names = append(names, n)
	}
	sort.Strings(names)
	end, longest := "", time.Duration(-1)
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, 0, err
		}
		if finish[n] > longest {
			end, longest = n, finish[n]
		}
	}
	var chain []string
	for n := end; n != ""; n = prev[n] {
		chain = append([]string{n}, chain...)
	}
	return chain, max(longest, 0), nil
}

// Run runs stages in dependency order, each as soon as everything it needs
// has succeeded, independent ones in parallel. A failed stage stops only
// the stages that need it (directly or not); they are reported as skipped
// and the others run to the end. The returned error joins every failure,
// then every skip, in the given stage order; it is nil when all succeeded.
// Cancelling ctx stops running stages (they see ctx) and starts no more.
func Run(ctx context.Context, stages []Stage, opts RunOptions) (*Report, error) {
	if err := CheckGraph(stages); err != nil {
		return nil, err
	}
	clock := opts.Clock
	if clock == nil {
		clock = clk.RealClock{}
	}
	rep := opts.Sink
	if rep == nil {
		rep = progress.Discard
	}
	exec := StageFunc(func(ctx context.Context, s Stage) error { return s.Run(ctx) })
	for i := len(opts.Middleware) - 1; i >= 0; i-- {
		exec = opts.Middleware[i](exec)
	}
	if opts.Log != nil {
		exec = logged(opts.Log, clock)(exec)
	}

	nodes := make(map[string]*node, len(stages))
	order := make([]*node, 0, len(stages))
	for _, s := range stages {
		n := &node{stage: s, done: make(chan struct{}), cur: -1, first: -1, phases: phasesOf(s),
			res: Result{Name: s.Name(), Needs: append([]string(nil), s.Needs()...)}}
		for _, ph := range n.phases {
			n.phaseDone = append(n.phaseDone, make(chan struct{}))
			n.res.Phases = append(n.res.Phases, PhaseResult{Name: ph.Name, Needs: append([]string(nil), ph.Needs...)})
		}
		nodes[s.Name()] = n
		order = append(order, n)
	}
	rs := &runState{nodes: nodes, clock: clock, sink: rep}

	start := clock.Now()
	var wg sync.WaitGroup
	for _, n := range order {
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			defer close(n.done)
			// Wait for every need; a need that did not succeed decides.
			for _, need := range n.res.Needs {
				if err := rs.await(ctx, n.res.Name, need); err != nil {
					n.res.Err = err
					var skip *SkippedError
					n.res.State = progress.StateCancelled
					msg := "not started: interrupted"
					if errors.As(err, &skip) {
						n.res.State, msg = progress.StateSkipped, "skipped because "+skip.Because+" failed"
					}
					rep.Report(progress.Event{Time: clock.Now(), Stage: n.res.Name, State: n.res.State, Message: msg})
					return
				}
			}
			if ctx.Err() != nil {
				n.res.State, n.res.Err = progress.StateCancelled, &CancelledError{Stage: n.res.Name, Started: false, Err: context.Cause(ctx)}
				rep.Report(progress.Event{Time: clock.Now(), Stage: n.res.Name, State: progress.StateCancelled, Message: "not started: interrupted"})
				return
			}
			n.res.Start = clock.Now()
			rep.Report(progress.Event{Time: n.res.Start, Stage: n.res.Name, State: progress.StateRunning})
			sctx := ctx
			if len(n.phases) > 0 {
				sctx = context.WithValue(ctx, phaserKey{}, &phaser{run: rs, node: n})
			}
			err := runSafely(sctx, exec, n.stage)
			end := clock.Now()
			n.res.Duration = end.Sub(n.res.Start)
			var nc *NoChange
			var skip *SkippedError
			switch {
			case err == nil:
				n.res.State = progress.StateReady
			case errors.As(err, &nc):
				n.res.State = progress.StateUnchanged
			case ctx.Err() != nil:
				n.res.State = progress.StateCancelled
				n.res.Err = &CancelledError{Stage: n.res.Name, Started: true, Err: err}
			case errors.As(err, &skip) && skip.Stage == n.res.Name:
				// A phase's need failed (Begin): the stage did not fail
				// of its own.
				n.res.State, n.res.Err = progress.StateSkipped, skip
			default:
				n.res.State = progress.StateFailed
				n.res.Err = &StageError{Stage: n.res.Name, Err: err}
			}
			n.finishPhases(end, n.res.State.OK())
			msg := ""
			switch {
			case nc != nil:
				msg = nc.Reason
			case n.res.State == progress.StateCancelled:
				msg = "interrupted"
			case n.res.State == progress.StateSkipped:
				msg = "skipped because " + skip.Because + " failed"
			case err != nil:
				msg = err.Error()
			}
			rep.Report(progress.Event{Time: end, Stage: n.res.Name, State: n.res.State, Duration: n.res.Duration, Message: msg})
		}(n)
	}
	wg.Wait()

	report := &Report{Wall: clock.Now().Sub(start)}
	var failed, skipped, cancelled []error
	for _, n := range order {
		report.Stages = append(report.Stages, n.res)
		switch n.res.State {
		case progress.StateFailed:
			failed = append(failed, n.res.Err)
		case progress.StateSkipped:
			skipped = append(skipped, n.res.Err)
		case progress.StateCancelled:
			cancelled = append(cancelled, n.res.Err)
		}
	}
	if ctx.Err() != nil && len(failed) == 0 {
		return report, &InterruptedError{Err: context.Cause(ctx), Stages: names(cancelled), Doing: doing(cancelled)}
	}
	all := append(append(failed, skipped...), cancelled...)
	if len(all) == 0 {
		return report, nil
	}
	return report, errors.Join(all...)
}

// node is one stage during Run. Its result is written only by its own
// goroutine and read by others only after done (or, for a phase, after
// that phase's channel) is closed.
type node struct {
	stage Stage
	done  chan struct{}
	res   Result
	// phases of a Phased stage; phaseDone[i] closes when phase i is done.
	phases    []Phase
	phaseDone []chan struct{}
	// cur is the phase the stage is in, first the first one it began
	// (-1: none yet), head its work before first.
	cur, first int
	head       time.Duration
}

// runState is what the stages of one Run share.
type runState struct {
	nodes map[string]*node
	clock clk.PassiveClock
	sink  progress.Sink
}

// await waits until need ("stage", or "stage/phase") has succeeded. It
// returns a *SkippedError for stage when the need failed (naming the
// stage that failed first) and a *CancelledError when ctx ended first or
// the need was interrupted.
func (r *runState) await(ctx context.Context, stage, need string) error {
	dep, reached := r.reach(need)
	select {
	case <-reached:
	case <-dep.done:
	case <-ctx.Done():
	}
	select {
	case <-reached:
		if reached != dep.done || dep.res.State.OK() {
			return nil
		}
	default:
	}
	if ctx.Err() != nil {
		return &CancelledError{Stage: stage, Started: false, Err: context.Cause(ctx)}
	}
	// dep ended without reaching need.
	if dep.res.State == progress.StateCancelled {
		return &CancelledError{Stage: stage, Started: false, Err: context.Canceled}
	}
	root := dep.res.Name
	var skip *SkippedError
	if errors.As(dep.res.Err, &skip) {
		root = skip.Because
	}
	return &SkippedError{Stage: stage, Because: root}
}

// reach returns the stage a need names and the channel that closes when
// the need is reached: the stage's done, or its phase's.
func (r *runState) reach(need string) (*node, chan struct{}) {
	depName, phase := splitNeed(need)
	dep := r.nodes[depName]
	reached := dep.done
	if phase != "" {
		for i, ph := range dep.phases {
			if ph.Name == phase {
				reached = dep.phaseDone[i]
			}
		}
	}
	return dep, reached
}

// pending returns the needs not reached yet.
func (r *runState) pending(needs []string) []string {
	var out []string
	for _, need := range needs {
		_, reached := r.reach(need)
		select {
		case <-reached:
		default:
			out = append(out, need)
		}
	}
	return out
}

func names(errs []error) []string {
	var out []string
	for _, e := range errs {
		var c *CancelledError
		if errors.As(e, &c) {
			out = append(out, c.Stage)
		}
	}
	return out
}

// runSafely turns a panicking stage into a failed one, so one bug does not
// take down the stages running beside it with nothing reported.
func runSafely(ctx context.Context, exec StageFunc, s Stage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return exec(ctx, s)
}

// logged is the logging middleware: a debug line when a stage starts and
// one with its outcome and duration when it ends.
func logged(log *slog.Logger, clock clk.PassiveClock) Middleware {
	return func(next StageFunc) StageFunc {
		return func(ctx context.Context, s Stage) error {
			start := clock.Now()
			log.Debug("stage started", "stage", s.Name(), "needs", s.Needs())
			err := next(ctx, s)
			log.Debug("stage ended", "stage", s.Name(), "duration", clock.Now().Sub(start).Round(time.Millisecond), "err", err)
			return err
		}
	}
}

// CheckGraph returns an error when names repeat, a need names no stage, or
// the needs form a cycle; the graph cannot run then.
func CheckGraph(stages []Stage) error {
	byName := map[string]Stage{}
	for _, s := range stages {
		if s.Name() == "" {
			return &GraphError{Msg: "a stage has no name"}
		}
		if _, dup := byName[s.Name()]; dup {
			return &GraphError{Msg: fmt.Sprintf("stage %q is declared twice", s.Name())}
		}
		byName[s.Name()] = s
	}
	graph := expand(stages)
	for _, s := range stages {
		seen := map[string]bool{}
		for _, ph := range phasesOf(s) {
			if ph.Name == "" || strings.Contains(ph.Name, "/") || seen[ph.Name] {
				return &GraphError{Msg: fmt.Sprintf("stage %q: phase %q is unnamed, has a slash or is declared twice", s.Name(), ph.Name)}
			}
			seen[ph.Name] = true
		}
	}
	for _, s := range stages {
		for _, n := range expandedNeeds(s) {
			if _, ok := graph[n]; !ok {
				return &GraphError{Msg: fmt.Sprintf("stage %q needs %q, which is not in the graph", s.Name(), n)}
			}
			if dep, ph := splitNeed(n); dep == s.Name() && ph != "" {
				return &GraphError{Msg: fmt.Sprintf("stage %q needs its own phase %q", s.Name(), n)}
			}
		}
	}
	const (
		unvisited = iota
		visiting
		visited
	)
	mark := map[string]int{}
	var path []string
	var visit func(string) error
	visit = func(n string) error {
		switch mark[n] {
		case visiting:
			i := 0
			for path[i] != n {
				i++
			}
			return &GraphError{Msg: "stages need each other in a cycle: " + strings.Join(append(path[i:], n), " -> ")}
		case visited:
			return nil
		}
		mark[n] = visiting
		path = append(path, n)
		needs := append([]string(nil), graph[n]...)
		sort.Strings(needs)
		for _, d := range needs {
			if err := visit(d); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		mark[n] = visited
		return nil
	}
	names := make([]string, 0, len(graph))
	for n := range graph {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// expandedNeeds are everything s names as a need, its phases' included.
func expandedNeeds(s Stage) []string {
	out := append([]string(nil), s.Needs()...)
	for _, ph := range phasesOf(s) {
		out = append(out, ph.Needs...)
	}
	return out
}

// Reverse returns stages with every need turned around: a stage now needs
// the stages that needed it. Down uses it to remove dependents first,
// still in parallel where the graph allows.
func Reverse(stages []Stage, run func(ctx context.Context, name string) error) []Stage {
	dependents := map[string][]string{}
	for _, s := range stages {
		for _, n := range s.Needs() {
			dependents[n] = append(dependents[n], s.Name())
		}
	}
	out := make([]Stage, 0, len(stages))
	for _, s := range stages {
		name := s.Name()
		out = append(out, FuncStage{StageName: name, StageNeeds: dependents[name], Fn: func(ctx context.Context) error { return run(ctx, name) }})
	}
	return out
}

// FuncStage is a Stage made of a name, needs and a function.
type FuncStage struct {
	StageName  string
	StageNeeds []string
	Fn         func(ctx context.Context) error
}

// Name implements Stage.
func (f FuncStage) Name() string { return f.StageName }

// Needs implements Stage.
func (f FuncStage) Needs() []string { return f.StageNeeds }

// Run implements Stage.
func (f FuncStage) Run(ctx context.Context) error { return f.Fn(ctx) }
