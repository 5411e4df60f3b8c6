// Package stages turns a rendered platform into the engine's stage graph:
// one stage per enabled component, each needing what the graph declares
// (package stages/components, the one declaration of the platform's order),
// plus what neuroscale knows about each component beyond its objects
// (extra readiness checks, timeouts from the config) and the sample objects
// that prove admission webhooks answer.
package stages

import (
	"context"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// Up returns the install graph of p: a stage per rendered component,
// waiting for what the graph's declaration (stages/components.Scheduled)
// says. A component whose steps the graph declares is a phased stage: it
// starts with what its first step needs, and Converge waits for each later
// step's needs as it gets there. dag.Run checks the graph it is given.
func Up(eng *engine.Engine, p *render.Platform, r *config.Resolved) []dag.Stage {
	steps := p.StepNames()
	out := make([]dag.Stage, 0, len(p.Components))
	for _, c := range p.Components {
		st := &component{eng: eng, comp: c, spec: Spec(c.Name, r)}
		if !components.HasSteps(c.Name) || len(c.Steps) == 0 {
			st.needs, _ = components.Scheduled(c.Name, "", steps)
			out = append(out, st)
			continue
		}
		phases := make([]dag.Phase, 0, len(c.Steps))
		for _, s := range c.Steps {
			needs, after := components.Scheduled(c.Name, s.Name, steps)
			phases = append(phases, dag.Phase{Name: s.Name, Needs: append(needs, after...), After: after})
		}
		st.needs, phases[0].Needs = phases[0].Needs, nil
		out = append(out, &phasedComponent{component: st, phases: phases})
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
