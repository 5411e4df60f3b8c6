// Package stages turns a rendered platform into the engine's stage graph:
// one stage per enabled component, each needing what the graph declares
// (package stages/components, the one declaration of the platform's order),
// plus what neuroscale knows about each component beyond its objects
// (extra readiness checks, timeouts from the config) and the sample objects
// that prove admission webhooks answer.
package stages

import (
	"context"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// Up returns the install graph of p: a stage per rendered component. Its
// needs come from the graph's declaration (render.Component.Needs); a need
// on a component that is disabled is dropped, since validation has already
// judged whether that is allowed. dag.Run checks the graph it is given.
func Up(eng *engine.Engine, p *render.Platform, r *config.Resolved) []dag.Stage {
	enabled := map[string]bool{}
	steps := map[string][]string{}
	for _, c := range p.Components {
		enabled[c.Name] = true
		for _, s := range c.Steps {
			steps[c.Name] = append(steps[c.Name], s.Name)
		}
	}
	// upTo is a need of component name as the stage graph has it: the
	// needed component up to the steps that go in after name.
	upTo := func(name string, needs []string) []string {
		for i, n := range needs {
			comp, _, _ := strings.Cut(n, "/")
			needs[i] = components.NeedUpTo(n, name, steps[comp])
		}
		return needs
	}
	out := make([]dag.Stage, 0, len(p.Components))
	for _, c := range p.Components {
		st := &component{eng: eng, comp: c, needs: upTo(c.Name, keptNeeds(c.Needs, enabled)), spec: Spec(c.Name, r)}
		if phases := stepPhases(c, enabled); phases != nil {
			for i := range phases {
				phases[i].Needs = upTo(c.Name, phases[i].Needs)
			}
			// The stage starts with what its first step needs; Converge
			// waits for each later step's needs as it gets there.
			st.needs, phases[0].Needs = phases[0].Needs, nil
			out = append(out, &phasedComponent{component: st, phases: phases})
			continue
		}
		out = append(out, st)
	}
	return out
}

// stepPhases returns a phase per step when the graph declares steps of c
// that need something other than c's needs (components.Graph), else nil:
// each phase needs what its step needs and the components it goes in
// after, those that are disabled dropped.
func stepPhases(c *render.Component, enabled map[string]bool) []dag.Phase {
	declared := false
	for _, gc := range components.Graph {
		if gc.Name == c.Name {
			declared = len(gc.Steps) > 0
		}
	}
	if !declared || len(c.Steps) == 0 {
		return nil
	}
	out := make([]dag.Phase, 0, len(c.Steps))
	for _, s := range c.Steps {
		var needs []string
		for _, n := range components.StepNeeds(c.Name, s.Name) {
			if comp, _, _ := strings.Cut(n, "/"); enabled[comp] {
				needs = append(needs, n)
			}
		}
		var after []string
		for _, a := range components.StepAfter(c.Name, s.Name) {
			if enabled[a] {
				needs, after = append(needs, a), append(after, a)
			}
		}
		out = append(out, dag.Phase{Name: s.Name, Needs: needs, After: after})
	}
	return out
}

// phasedComponent is the stage of a component whose steps need different
// things: dag.Run lets others need one of its steps, and Converge begins
// each step's phase (dag.Begin) before applying it.
type phasedComponent struct {
	*component
	phases []dag.Phase
}

// Phases implements dag.Phased.
func (c *phasedComponent) Phases() []dag.Phase { return c.phases }

// Spec is what neuroscale knows about a component beyond its rendered
// objects. Everything applied is waited for by the engine (kstatus, the
// workloads' probe budgets, webhooks, InferenceService Ready, Application
// Synced/Healthy); this adds the config's timeout and the readiness of
// what a component creates at runtime.
func Spec(name string, r *config.Resolved) engine.Spec {
	var s engine.Spec
	if rc := r.Component(name); rc != nil {
		s.Timeout = rc.Timeout.Duration
	}
	switch name {
	case config.ArgoCD:
		// The ApplicationSet (when a GitOps repository is configured)
		// generates Applications; they are ArgoCD's, not applied by us,
		// but a platform whose apps do not sync is not ready.
		if r.GitOps != nil {
			s.Checks = append(s.Checks, applicationsSynced("argocd"))
		}
	}
	return s
}

// Down returns the removal graph: the recorded components, each removed
// only after everything that needed it. It comes from the records, not
// from rendering, so down works offline and for components since disabled.
func Down(eng *engine.Engine, opts engine.RemoveOptions) []dag.Stage {
	return dag.Reverse(eng.Components(), func(ctx context.Context, name string) error {
		return eng.Remove(ctx, name, opts)
	})
}

// component is the stage of one component: converge it.
type component struct {
	eng   *engine.Engine
	comp  *render.Component
	needs []string
	spec  engine.Spec
}

// Name implements dag.Stage.
func (c *component) Name() string { return c.comp.Name }

// Needs implements dag.Stage.
func (c *component) Needs() []string { return c.needs }

// Run implements dag.Stage: converge the component.
func (c *component) Run(ctx context.Context) error { return c.eng.Converge(ctx, c.comp, c.spec) }
