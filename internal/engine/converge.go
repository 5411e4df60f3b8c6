package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// Spec is what a stage knows about its component beyond what render
// produced.
type Spec struct {
	// Timeout replaces the readiness budgets derived from the objects
	// (components.<name>.timeout in the config).
	Timeout time.Duration
	// Checks must pass once every step is Ready: readiness of things the
	// component did not apply itself (Applications an ApplicationSet made).
	Checks []Check
}

// Check is one extra readiness condition of a component.
type Check struct {
	// Name says what is checked, for messages.
	Name string
	// Probe returns "" when the condition holds, else what is missing.
	Probe func(ctx context.Context, c Clients) (string, error)
}

// Clients are the clients a Check may use.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
}

// Converge makes one component as rendered and Ready. With an unchanged
// digest and a finished last apply it only checks health (all recorded
// objects present and Ready, Helm releases deployed at the recorded
// revision, webhooks answering) and returns *dag.NoChange; a missing object or
// a release someone else changed makes it re-apply. Otherwise it applies
// every step in order, each waited for before the next.
//
// Dependents of a changed component run Converge too, after it, so they
// are re-checked against the new version of what they need; they are
// re-applied only when their own digest changed. Their rendered objects
// (and so their digest) already include everything they take from
// elsewhere (values, secret checksums), so re-applying an unchanged
// dependent would only cost a Helm revision and its hook Jobs.
func (e *Engine) Converge(ctx context.Context, c *render.Component, spec Spec) error {
	prev := e.Record(c.Name)
	action, reason := e.plan(c, prev)
	if action == ActionRepair && prev != nil && prev.Phase == state.Applied {
		// Unchanged but unhealthy when Prepare looked: re-apply at once
		// rather than wait the whole readiness budget for it to heal.
		e.log.Info("re-applying unchanged component", "component", c.Name, "reason", reason)
	}
	if action == ActionCheck {
		// Checked against what it needs as they are now: wait for all of
		// it, as for the last step of an apply, but not for what a step
		// only goes in after (nothing goes in).
		if n := len(c.Steps); n > 0 {
			if err := dag.BeginCheck(ctx, c.Steps[n-1].Name); err != nil {
				return err
			}
		}
		// The hook puts back what it owns even when nothing else changed:
		// a Secret deleted by hand would otherwise stop the consumers'
		// next pods from starting, and no digest would notice.
		if h := e.opts.Hooks[c.Name].BeforeApply; h != nil {
			if err := h(ctx, e.hookEnv(c)); err != nil {
				return fmt.Errorf("before checking: %w", err)
			}
		}
		repair, err := e.verify(ctx, c, prev, spec)
		if err != nil {
			return err
		}
		if repair == "" {
			return &dag.NoChange{Reason: "unchanged"}
		}
		e.log.Info("re-applying unchanged component", "component", c.Name, "reason", repair)
	}
	return e.apply(ctx, c, prev, spec)
}

// What up does with one component, as Plan reports it and Converge does it.
const (
	// ActionInstall: no record, the component is new here.
	ActionInstall = "install"
	// ActionRepair: the last apply did not finish.
	ActionRepair = "repair"
	// ActionUpgrade: the rendered digest changed (or --reapply).
	ActionUpgrade = "upgrade"
	// ActionCheck: unchanged, only its health is checked.
	ActionCheck = "check"
)

// decide is the one decision Plan reports and Converge acts on: compare
// the rendered component with its record.
func decide(c *render.Component, prev *state.Record, reapply bool) string {
	switch {
	case prev == nil:
		return ActionInstall
	case prev.Phase != state.Applied:
		return ActionRepair
	case prev.Digest != c.Digest || reapply:
		return ActionUpgrade
	}
	return ActionCheck
}

// verify is the cheap health check of an unchanged component. It returns
// a reason to re-apply, or waits for readiness and returns its verdict.
func (e *Engine) verify(ctx context.Context, c *render.Component, prev *state.Record, spec Spec) (string, error) {
	refs := prev.Objects()
	// What Prepare saw moments ago in this run, when it found the
	// component whole and nothing was applied since (lookedHealthy).
	obs := e.lookedHealthy(c.Name, prev)
	if obs == nil {
		for _, s := range prev.Steps {
			if s.Kind != string(render.StepChart) {
				continue
			}
			if why, err := e.releaseDrift(ctx, s); why != "" || err != nil {
				return why, err
			}
		}
		var err error
		if obs, err = e.observe(ctx, refs); err != nil {
			return "", fmt.Errorf("check health: %w", err)
		}
		for _, r := range refs {
			if o := obs[r]; o.Status == statusNotFound || o.Status == statusTerminating {
				return fmt.Sprintf("%s is %s", r, o.Message), nil
			}
		}
	}
	budget := Budget(c.Objects(), spec.Timeout)
	if err := e.waitReady(ctx, c.Name, refs, budget, obs); err != nil {
		return "", err
	}
	if err := e.waitComponentWebhooks(ctx, refs, budget); err != nil {
		return "", err
	}
	return "", e.waitChecks(ctx, spec.Checks, budget)
}

// apply applies every step and records the result.
func (e *Engine) apply(ctx context.Context, c *render.Component, prev *state.Record, spec Spec) error {
	e.mu.Lock()
	e.applying = true
	e.mu.Unlock()
	planned, err := e.plannedSteps(c, prev)
	if err != nil {
		return err
	}
	rec := &state.Record{Component: c.Name, Version: c.Version, Profile: e.profile, Digest: c.Digest, Needs: c.Needs,
		Phase: state.Applying, AppliedAt: e.clock.Now().UTC(), Steps: planned}
	if err := e.saveRecord(ctx, rec); err != nil {
		return err
	}
	env := e.hookEnv(c)
	hooks := e.opts.Hooks[c.Name]
	var applied []state.StepRecord
	if hooks.BeforeApply != nil {
		if err := hooks.BeforeApply(ctx, env); err != nil {
			return fmt.Errorf("before applying: %w", err)
		}
	}
	var total time.Duration
	for _, st := range c.Steps {
		// A step may need less than the component (its CRDs nothing) or
		// more: in a stage run by dag.Run, wait here for what it needs.
		if err := dag.Begin(ctx, st.Name); err != nil {
			return err
		}
		budget := Budget(st.Objects, spec.Timeout)
		if budget > total {
			total = budget
		}
		sr, err := e.applyStep(ctx, c.Name, st, budget)
		if err != nil {
			return fmt.Errorf("step %s: %w", st.Name, err)
		}
		applied = append(applied, sr)
	}
	if err := e.waitChecks(ctx, spec.Checks, total); err != nil {
		return err
	}
	if prev != nil {
		if err := e.prune(ctx, prev, applied); err != nil {
			return fmt.Errorf("remove what the new version no longer has: %w", err)
		}
	}
	if hooks.AfterReady != nil {
		if err := hooks.AfterReady(ctx, env); err != nil {
			return fmt.Errorf("after ready: %w", err)
		}
	}
	done := *rec
	done.Phase, done.AppliedAt, done.Steps = state.Applied, e.clock.Now().UTC(), applied
	return e.saveRecord(ctx, &done)
}

// applyStep applies one step, waits until it is Ready and its webhooks
// answer, and returns what it applied.
func (e *Engine) applyStep(ctx context.Context, comp string, st *render.Step, budget time.Duration) (state.StepRecord, error) {
	sr := state.StepRecord{Name: st.Name, Kind: string(st.Kind), Namespace: st.Namespace}
	log := e.log.With("component", comp, "step", st.Name)
	log.Debug("applying step", "kind", st.Kind, "objects", len(st.Objects), "budget", budget)
	var objs []*unstructured.Unstructured
	switch st.Kind {
	case render.StepChart:
		rev, o, err := e.applyChart(ctx, comp, st, budget)
		if err != nil {
			return sr, err
		}
		sr.Release, sr.Revision, objs = st.Name, rev, o
	case render.StepManifest:
		if len(st.Objects) == 0 {
			return sr, nil
		}
		o, err := e.applyObjects(ctx, comp, st.Objects, st.Namespace)
		if err != nil {
			return sr, err
		}
		objs = o
	default:
		return sr, fmt.Errorf("unknown step kind %q", st.Kind)
	}
	sr.Objects = refsOf(objs)
	log.Debug("applied; waiting for readiness", "objects", len(sr.Objects), "revision", sr.Revision)
	// The caller wraps this with "step NAME: ", so the wait says "objects".
	if err := e.waitReady(ctx, "objects", sr.Objects, budget, nil); err != nil {
		return sr, err
	}
	log.Debug("ready; checking admission webhooks")
	if err := e.waitComponentWebhooks(ctx, sr.Objects, budget); err != nil {
		return sr, err
	}
	log.Debug("step done")
	return sr, nil
}

// waitComponentWebhooks waits for the admission webhooks that refs
// register, or that are served from refs' namespaces.
func (e *Engine) waitComponentWebhooks(ctx context.Context, refs []state.ObjectRef, budget time.Duration) error {
	namespaces, configs := map[string]bool{}, map[string]bool{}
	for _, r := range refs {
		switch {
		case r.Group == "admissionregistration.k8s.io" && (r.Kind == "ValidatingWebhookConfiguration" || r.Kind == "MutatingWebhookConfiguration"):
			configs[r.Name] = true
		case r.Group == "" && r.Kind == "Service":
			// Only namespaces where the component runs services can host
			// its runtime-registered webhooks; "default" (the demo's) too,
			// harmlessly.
			namespaces[r.Namespace] = true
		}
	}
	if len(namespaces) == 0 && len(configs) == 0 {
		return nil
	}
	hooks, err := e.webhooksFor(ctx, namespaces, configs)
	if err != nil {
		return err
	}
	return e.waitWebhooks(ctx, hooks, budget)
}

// waitChecks polls every check until it holds or budget runs out.
func (e *Engine) waitChecks(ctx context.Context, checks []Check, budget time.Duration) error {
	if len(checks) == 0 {
		return nil
	}
	cl := Clients{Kube: e.kube, Dynamic: e.dyn}
	// One budget for all checks, as they run one after the other.
	deadline := e.clock.Now().Add(budget)
	for _, ch := range checks {
		var why string
		err := e.poll(ctx, deadline.Sub(e.clock.Now()), e.opts.MaxPoll, func(ctx context.Context) (bool, error) {
			var err error
			if why, err = ch.Probe(ctx, cl); err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				why = err.Error()
			}
			return why == "", nil
		})
		if errors.Is(err, errBudget) {
			return &WaitTimeoutError{What: ch.Name, Budget: budget, Objects: []NotReady{{Object: ch.Name, Message: why}}}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// plannedSteps is the record written before applying: every step with the
// union of what it had and what it will have, and the steps the new
// version dropped, so that an interrupted change can still be removed.
func (e *Engine) plannedSteps(c *render.Component, prev *state.Record) ([]state.StepRecord, error) {
	old := map[string]state.StepRecord{}
	var order []string
	if prev != nil {
		for _, s := range prev.Steps {
			old[s.Kind+"/"+s.Name] = s
			order = append(order, s.Kind+"/"+s.Name)
		}
	}
	var out []state.StepRecord
	seen := map[string]bool{}
	for _, st := range c.Steps {
		key := string(st.Kind) + "/" + st.Name
		seen[key] = true
		objs, err := e.prepare(c.Name, withoutHooks(st), st.Namespace)
		if err != nil {
			return nil, err
		}
		sr := state.StepRecord{Name: st.Name, Kind: string(st.Kind), Namespace: st.Namespace, Objects: refsOf(objs)}
		if st.Kind == render.StepChart {
			sr.Release = st.Name
		}
		if o, ok := old[key]; ok {
			sr.Objects = state.Union(o.Objects, sr.Objects)
			sr.Revision = o.Revision
		}
		out = append(out, sr)
	}
	for _, k := range order {
		if !seen[k] {
			out = append(out, old[k])
		}
	}
	return out, nil
}

func withoutHooks(st *render.Step) []*unstructured.Unstructured {
	if len(st.Hooks) == 0 {
		return st.Objects
	}
	hooks := map[state.ObjectRef]bool{}
	for _, r := range refsOf(st.Hooks) {
		hooks[r] = true
	}
	var out []*unstructured.Unstructured
	for _, o := range st.Objects {
		gvk := o.GroupVersionKind()
		r := state.ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
		if !hooks[r] {
			out = append(out, o)
		}
	}
	return out
}

// prune removes what the previous version applied and the new one does
// not: manifest objects dropped from a step, and whole steps dropped.
// Helm prunes inside a release by itself. CRDs and namespaces are never
// pruned: deleting them deletes data.
func (e *Engine) prune(ctx context.Context, prev *state.Record, now []state.StepRecord) error {
	cur := map[string]state.StepRecord{}
	keep := map[state.ObjectRef]bool{}
	for _, s := range now {
		cur[s.Kind+"/"+s.Name] = s
		for _, r := range e.normalize(s.Objects) {
			keep[r] = true
		}
	}
	var stale []state.ObjectRef
	for _, s := range prev.Steps {
		_, still := cur[s.Kind+"/"+s.Name]
		if s.Kind == string(render.StepChart) {
			if !still {
				if err := e.uninstallRelease(ctx, s.Namespace, s.Release, MinBudget); err != nil {
					return err
				}
			}
			continue
		}
		for _, r := range e.normalize(s.Objects) {
			if !keep[r] && !protected(r) {
				stale = append(stale, r)
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	e.log.Info("removing objects the new version no longer has", "count", len(stale))
	return e.deleteObjects(ctx, stale, MinBudget)
}

// normalize drops the namespace of refs to cluster-scoped kinds, so that
// refs recorded before a kind's CRD existed compare equal to later ones.
func (e *Engine) normalize(refs []state.ObjectRef) []state.ObjectRef {
	out := make([]state.ObjectRef, 0, len(refs))
	for _, r := range refs {
		if r.Namespace != "" {
			if m, ok, err := e.mapping(r.GVK()); err == nil && ok && scoped(m, r.Namespace) == "" {
				r.Namespace = ""
			}
		}
		out = append(out, r)
	}
	return out
}

// protected are objects removal leaves alone unless purging: CRDs (their
// deletion deletes every custom resource) and namespaces (their data).
func protected(r state.ObjectRef) bool {
	return isCRD(r.GVK().GroupKind()) || (r.Group == "" && r.Kind == "Namespace")
}

// hookEnv is what the component's hooks get to work with.
func (e *Engine) hookEnv(c *render.Component) HookEnv {
	return HookEnv{Component: c, REST: e.REST(), Kube: e.kube, Log: e.log.With("component", c.Name)}
}
