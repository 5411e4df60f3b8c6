// Package components declares the platform's graph, once: every component
// neuroscale installs, in install order, and the components each needs
// Ready before it starts. Everything else reads it: config (the names it
// accepts), the catalog (how to install each component, not when), render
// (each component's needs), stages (the install graph) and down (the
// records keep the needs they were applied with).
//
// To add a component: add its name and its needs here, its steps to
// assets/catalog.yaml, and its stage knowledge (if any) to package stages.
package components

import (
	"fmt"
	"slices"
	"strings"
)

// Component names.
const (
	CertManager    = "cert-manager"
	KnativeServing = "knative-serving"
	Kourier        = "kourier"
	KServe         = "kserve"
	ArgoCD         = "argocd"
	Kyverno        = "kyverno"
	Backstage      = "backstage"
	Demo           = "demo"
)

// Component is one node of the graph.
type Component struct {
	Name string
	// Needs must be Ready before this component's steps run, except the
	// steps that Steps declares; each comes earlier in Graph.
	Needs []string
	// Steps are the steps (by rendered step name: the Helm release or
	// the manifest set) that need something other than Needs: a step
	// that applies only CRDs needs nothing and goes in at once; a step
	// that only names another component's kinds needs that component's
	// CRD step ("component/step"), not the whole component Ready.
	Steps []Step
}

// Step declares what one step of a component needs instead of the
// component's Needs.
type Step struct {
	Name string
	// Needs are components ("kserve": Ready) or steps of components
	// ("kserve/kserve-crd": applied and Ready).
	Needs []string
	// After are components this step goes in after, when they are
	// enabled, without needing them: they may come later in Graph and
	// may need this step's component. A component named here that needs
	// this step's component starts after the step before this one
	// instead of after the whole component (see Scheduled).
	After []string
}

// Graph is the platform, in install order. Independent components are
// installed in parallel; the order only breaks ties.
var Graph = []Component{
	{Name: CertManager},
	{Name: KnativeServing},
	{Name: Kourier, Needs: []string{KnativeServing}},
	// KServe's webhooks need cert-manager's certificates; its serverless
	// mode needs Knative and an ingress (Kourier). Its CRDs need nothing.
	{Name: KServe, Needs: []string{CertManager, KnativeServing, Kourier}, Steps: []Step{{Name: "kserve-crd"}}},
	{Name: ArgoCD},
	// The policies check InferenceServices, a KServe kind: they need its
	// CRD, not KServe running. Kyverno itself needs nothing.
	// The quota counts InferenceServices too, and the API server refuses
	// an object a quota counts until the quota controller has counted
	// it; the controller looks for new resources only every 30 s, so a
	// quota made right after KServe's CRD refused the demo for up to half
	// a minute. It goes in after the demo, which fits well within it, so
	// the demo does not wait for that discovery; up then waits for the
	// quota to be counted (the engine judges a quota Ready only then and
	// re-creates one still uncounted), so no InferenceService made after
	// up is refused. Without the demo it goes in after KServe's CRD, for
	// the same reason.
	{Name: Kyverno, Steps: []Step{
		{Name: "policies", Needs: []string{KServe + "/kserve-crd"}},
		{Name: "quota", Needs: []string{KServe + "/kserve-crd"}, After: []string{Demo}},
	}},
	{Name: Backstage},
	// The demo is an InferenceService that must pass the policies.
	{Name: Demo, Needs: []string{KServe, Kyverno}},
}

// Names returns the component names in install order.
func Names() []string {
	out := make([]string, len(Graph))
	for i, c := range Graph {
		out[i] = c.Name
	}
	return out
}

// Needs returns the components the named component needs for any of its
// steps (nil for an unknown name): what it is installed after when steps
// do not matter, removed before, and disabled with.
func Needs(name string) []string {
	for _, c := range Graph {
		if c.Name == name {
			out := slices.Clone(c.Needs)
			for _, st := range c.Steps {
				for _, n := range st.Needs {
					comp, _, _ := strings.Cut(n, "/")
					if !slices.Contains(out, comp) {
						out = append(out, comp)
					}
				}
			}
			return out
		}
	}
	return nil
}

// HasSteps reports whether the graph declares steps of the named
// component: then each of its steps waits for what Scheduled says of it;
// otherwise the whole component waits for its Needs before its first step.
func HasSteps(name string) bool {
	c, _ := lookup(name, "")
	return c != nil && len(c.Steps) > 0
}

// Declares reports whether the graph declares the named step of the named
// component (its needs differ from the component's).
func Declares(name, step string) bool {
	_, st := lookup(name, step)
	return st != nil
}

// Scheduled is what up makes the named step of the named component wait
// for, given the steps (by name, in order) of every enabled component; a
// component without steps there is disabled. needs are the step's
// declared needs, or the component's when the graph declares none for the
// step (an empty step asks for those); after are the components the step
// goes in after without needing them (Step.After), which it waits for too
// (dag.Phase takes both, After also in Needs). A need on a
// disabled component is dropped, since validation has already judged
// whether that is allowed, and a need on a whole component is cut to the
// steps that go in before name (needUpTo). stages (the install graph and
// its dry-run plan) and prepull (the pull order) all read it here.
func Scheduled(name, step string, steps map[string][]string) (needs, after []string) {
	c, st := lookup(name, step)
	if c == nil {
		return nil, nil
	}
	declared := c.Needs
	if st != nil {
		declared = st.Needs
		for _, a := range st.After {
			if len(steps[a]) > 0 {
				after = append(after, needUpTo(a, name, steps[a]))
			}
		}
	}
	needs = []string{}
	for _, n := range declared {
		comp, _, _ := strings.Cut(n, "/")
		if len(steps[comp]) > 0 {
			needs = append(needs, needUpTo(n, name, steps[comp]))
		}
	}
	return needs, after
}

// lookup returns the named component of Graph and the declaration of its
// named step, each nil when there is none.
func lookup(name, step string) (*Component, *Step) {
	for i := range Graph {
		c := &Graph[i]
		if c.Name != name {
			continue
		}
		for j := range c.Steps {
			if c.Steps[j].Name == step {
				return c, &c.Steps[j]
			}
		}
		return c, nil
	}
	return nil, nil
}

// needUpTo returns what component dependent needs of component need,
// whose steps (by name, in order) are steps: the step before the first
// one that goes in after dependent ("need/step"), else need itself (the
// whole component). A need on a step ("need/step") is returned as is.
func needUpTo(need, dependent string, steps []string) string {
	if strings.Contains(need, "/") {
		return need
	}
	for i, s := range steps {
		if _, st := lookup(need, s); i > 0 && st != nil && slices.Contains(st.After, dependent) {
			return need + "/" + steps[i-1]
		}
	}
	return need
}

// Check is the one check of the declaration: names are unique and every
// need names a component that comes earlier (which rules out cycles).
func Check(graph []Component) error {
	seen := map[string]bool{}
	for _, c := range graph {
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("component %q is unnamed or declared twice", c.Name)
		}
		for _, n := range c.Needs {
			if !seen[n] {
				return fmt.Errorf("component %q needs %q, which is not declared before it", c.Name, n)
			}
		}
		for _, st := range c.Steps {
			for _, n := range st.Needs {
				if comp, _, _ := strings.Cut(n, "/"); !seen[comp] {
					return fmt.Errorf("component %q step %q needs %q, which is not declared before it", c.Name, st.Name, n)
				}
			}
			for _, a := range st.After {
				if !slices.ContainsFunc(graph, func(o Component) bool { return o.Name == a }) || a == c.Name {
					return fmt.Errorf("component %q step %q goes in after %q, which is not another declared component", c.Name, st.Name, a)
				}
			}
		}
		seen[c.Name] = true
	}
	return nil
}
