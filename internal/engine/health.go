package engine

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// lookAtHealth looks once, without waiting, at every component whose last
// apply finished: its Helm releases deployed at the recorded revision, its
// objects present and Ready. What it finds is why an unchanged component
// is re-applied at once, and what the plan says about it, instead of being
// waited on for its whole readiness budget (up to minutes) in silence.
// Objects of all components are read together, with one LIST per kind and
// namespace.
func (e *Engine) lookAtHealth(ctx context.Context) error {
	e.mu.Lock()
	var recs []*state.Record
	for _, n := range e.recordNamesLocked() {
		if r := e.records[n]; r.Phase == state.Applied {
			recs = append(recs, r)
		}
	}
	e.mu.Unlock()
	unhealthy := map[string]string{}
	var (
		refs []state.ObjectRef
		obs  map[state.ObjectRef]observation
	)
	// The releases and the objects are read at once: one after another,
	// the releases' reads were half of a no-op up's converge.
	for _, r := range recs {
		refs = append(refs, r.Objects()...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	g.Go(func() error {
		var err error
		obs, err = e.observe(gctx, refs) // Prepare says what failed
		return err
	})
	// bad[i][j] is what is wrong with release step j of recs[i]: the
	// first one in step order is reported.
	bad := make([][]string, len(recs))
	for i, r := range recs {
		bad[i] = make([]string, len(r.Steps))
		for j, s := range r.Steps {
			if s.Kind != string(render.StepChart) {
				continue
			}
			g.Go(func() (err error) {
				bad[i][j], err = e.releaseDrift(gctx, s)
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, r := range recs {
		for _, why := range bad[i] {
			if why != "" {
				unhealthy[r.Component] = why
				break
			}
		}
	}
	healthy := map[string]map[state.ObjectRef]observation{}
	for _, r := range recs {
		if unhealthy[r.Component] != "" {
			continue
		}
		seen := map[state.ObjectRef]observation{}
		for _, ref := range r.Objects() {
			o, ok := obs[ref]
			if ok && o.Status != statusCurrent {
				unhealthy[r.Component] = NotReady{Object: ref.String(), Status: o.Status, Message: firstLine(o.Message)}.String()
				break
			}
			if ok && seen != nil {
				seen[ref] = o
			} else {
				seen = nil
			}
		}
		if unhealthy[r.Component] == "" && seen != nil {
			healthy[r.Component] = seen
		}
	}
	e.mu.Lock()
	e.unhealthy, e.healthy = unhealthy, healthy
	e.mu.Unlock()
	return nil
}

// lookedHealthy returns what lookAtHealth observed of the named
// component, recorded as prev, when it found it whole and nothing has
// been applied in this run since; else nil. A no-op up checks each
// component with it rather than reading every release and object again
// moments later: those reads were most of the no-op's converge. Once
// anything is applied, a component checked after what it needs is read
// again, against the new version of what it needs.
func (e *Engine) lookedHealthy(name string, prev *state.Record) map[state.ObjectRef]observation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.applying || e.records[name] != prev {
		return nil
	}
	return e.healthy[name]
}

// unhealthyReason is what lookAtHealth found wrong with a component, or "".
func (e *Engine) unhealthyReason(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.unhealthy[name]
}

// plan is the one decision Plan reports and Converge acts on, with why:
// decide's comparison of the rendered component with its record, and an
// unchanged component that is not healthy now is repaired (re-applied).
func (e *Engine) plan(c *render.Component, prev *state.Record) (action, reason string) {
	action = decide(c, prev, e.opts.Reapply)
	switch action {
	case ActionRepair:
		reason = "the last run did not finish"
	case ActionUpgrade:
		if e.opts.Reapply && prev.Digest == c.Digest {
			reason = "--reapply"
		}
	case ActionCheck:
		if why := e.unhealthyReason(c.Name); why != "" {
			action, reason = ActionRepair, "unhealthy: "+why
		}
	}
	return action, reason
}
