package dag

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/progress"
)

// Phased is a Stage whose Run goes through named phases in order, each of
// which may need more than the stage needs to start. A stage that applies
// a component's CRDs and then the rest starts when its CRDs can go in, and
// waits for the rest's needs only when it gets there; other stages may
// need one of its phases ("stage/phase") rather than the whole stage.
type Phased interface {
	Stage
	// Phases are the stage's phases in the order Run enters them.
	Phases() []Phase
}

// Phase is one part of a Phased stage's Run.
type Phase struct {
	// Name is unique within its stage; "stage/name" is how others need it.
	Name string
	// Needs must have succeeded before the phase begins, beyond what the
	// stage and its earlier phases needed: stages ("kserve") or phases of
	// stages ("kserve/kserve-crd", done when the stage went past it).
	Needs []string
	// After are those of Needs that the phase only goes in after, without
	// needing them (namespace default's quota goes in after the demo): a
	// stage that only checks its component (BeginCheck) does not wait for
	// them.
	After []string
}

// PhaseResult is the outcome of one phase of a Phased stage.
type PhaseResult struct {
	Name  string
	Needs []string
	// Start is when the phase got what it needs and began its work.
	Start time.Time
	// Duration is the phase's work, without its wait for its needs; the
	// stage's work before its first phase counts into that phase.
	Duration time.Duration
}

// Begin enters the named phase of the stage whose Run got ctx: it ends
// the phase before it (others needing that phase may start), then waits
// until everything the named phase and any phase it passes over need has
// succeeded. It returns a *SkippedError when one of those failed, and
// ctx's cause when ctx ends first. Outside a Phased stage run by Run it
// does nothing, so the stage's code runs unchanged on its own.
func Begin(ctx context.Context, phase string) error {
	p, _ := ctx.Value(phaserKey{}).(*phaser)
	if p == nil {
		return nil
	}
	return p.begin(ctx, phase, false)
}

// BeginCheck is Begin for a stage that only checks its component rather
// than applying it (up's no-op): the phases' needs are what its health is
// checked against, but what a phase only goes in after (Phase.After) is
// not waited for, since nothing goes in.
func BeginCheck(ctx context.Context, phase string) error {
	p, _ := ctx.Value(phaserKey{}).(*phaser)
	if p == nil {
		return nil
	}
	return p.begin(ctx, phase, true)
}

type phaserKey struct{}

// phaser is a running Phased stage's side of Begin.
type phaser struct {
	run  *runState
	node *node
}

func (p *phaser) begin(ctx context.Context, phase string, check bool) error {
	n := p.node
	i := -1
	for j, ph := range n.phases {
		if ph.Name == phase {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("stage %s has no phase %q", n.res.Name, phase)
	}
	if i <= n.cur {
		return fmt.Errorf("stage %s: phase %q begun after phase %q", n.res.Name, phase, n.phases[n.cur].Name)
	}
	now := p.run.clock.Now()
	var needs []string
	for j := n.cur; j < i; j++ {
		if j >= 0 {
			// Done with j: what needs it may start.
			n.endPhase(j, now)
		}
		for _, need := range n.phases[j+1].Needs {
			if !check || !slices.Contains(n.phases[j+1].After, need) {
				needs = append(needs, need)
			}
		}
	}
	if n.cur < 0 {
		// The stage's work before its first phase counts into it.
		n.first, n.head = i, now.Sub(n.res.Start)
	}
	// A stage that waits inside says so: the display shows it running,
	// and without this it would look busy while it is only waiting.
	waiting := p.run.pending(needs)
	if len(waiting) > 0 {
		p.run.sink.Report(progress.Event{Time: now, Stage: n.res.Name, State: progress.StateRunning, Message: "waiting for " + strings.Join(waiting, ", ")})
	}
	for _, need := range needs {
		if err := p.run.await(ctx, n.res.Name, need); err != nil {
			return err
		}
	}
	if len(waiting) > 0 {
		p.run.sink.Report(progress.Event{Time: p.run.clock.Now(), Stage: n.res.Name, State: progress.StateRunning, Message: phase})
	}
	n.cur = i
	n.res.Phases[i].Start = p.run.clock.Now()
	return nil
}

// endPhase records phase i as done at t and releases what waits for it.
func (n *node) endPhase(i int, t time.Time) {
	r := &n.res.Phases[i]
	if !r.Start.IsZero() {
		r.Duration = t.Sub(r.Start)
		if i == n.first {
			r.Duration += n.head
		}
	} else {
		r.Start = t
	}
	close(n.phaseDone[i])
}

// finishPhases closes the phases at the stage's end: on success every
// phase is done (a stage that began none did all its work in its last);
// on failure only those it went past were.
func (n *node) finishPhases(end time.Time, ok bool) {
	if len(n.phases) == 0 {
		return
	}
	if !ok {
		if n.cur >= 0 {
			r := &n.res.Phases[n.cur]
			r.Duration = end.Sub(r.Start)
			if n.cur == n.first {
				r.Duration += n.head
			}
		}
		return
	}
	if n.cur < 0 {
		last := len(n.phases) - 1
		for i := range last {
			n.res.Phases[i].Start = n.res.Start
			close(n.phaseDone[i])
		}
		n.res.Phases[last].Start, n.res.Phases[last].Duration = n.res.Start, end.Sub(n.res.Start)
		close(n.phaseDone[last])
		return
	}
	for i := n.cur; i < len(n.phases); i++ {
		n.endPhase(i, end)
	}
}

// splitNeed splits "stage/phase" into its parts; phase is "" for a stage.
func splitNeed(need string) (stage, phase string) {
	stage, phase, _ = strings.Cut(need, "/")
	return stage, phase
}

// phasesOf returns s's phases, nil for a stage that is not Phased.
func phasesOf(s Stage) []Phase {
	if p, ok := s.(Phased); ok {
		return p.Phases()
	}
	return nil
}

// expand is the graph at the level of phases: a plain stage is a node
// needing its needs; a Phased stage is a chain of "stage/phase" nodes, the
// first needing the stage's needs and its own, each later one the phase
// before it and its own, and a node named after the stage needing its last
// phase (what needs the whole stage). It is what cycles are looked for in
// and what the critical path runs through.
func expand(stages []Stage) map[string][]string {
	out := make(map[string][]string, len(stages))
	for _, s := range stages {
		phases := phasesOf(s)
		if len(phases) == 0 {
			out[s.Name()] = append([]string(nil), s.Needs()...)
			continue
		}
		prev := ""
		for i, ph := range phases {
			name := s.Name() + "/" + ph.Name
			var needs []string
			if i == 0 {
				needs = append(needs, s.Needs()...)
			} else {
				needs = append(needs, prev)
			}
			out[name] = append(needs, ph.Needs...)
			prev = name
		}
		out[s.Name()] = []string{prev}
	}
	return out
}
