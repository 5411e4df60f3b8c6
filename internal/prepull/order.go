package prepull

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// priority is how much of the install still waits once a step starts: the
// longest chain of steps from it to the end of the stage graph, the step
// itself included, measured two ways. Wait is the seconds the chain's pods
// declare they cannot be Ready before (their probes' initial delays);
// Steps is the number of steps. A longer chain is worth pulling for first:
// the install ends when its last step does, and a step that starts at once
// but that nothing waits for (ArgoCD) can take its images last.
type priority struct {
	Wait  int64
	Steps int
}

// Compare orders priorities from the most urgent: the longest declared
// wait first (a known wait dominates steps of unknown length), then the
// most steps.
func (p priority) Compare(o priority) int {
	return cmp.Or(cmp.Compare(o.Wait, p.Wait), cmp.Compare(o.Steps, p.Steps))
}

// pullOrder sorts imgs, in install order, into the order to pull them:
// by the priority of the step that runs each, most urgent first, ties kept
// in install order. The images of the steps that head the longest chains
// (which start at once) come first; those of a last step (the demo) last.
func pullOrder(imgs []Image, prio map[string]priority) {
	slices.SortStableFunc(imgs, func(a, b Image) int {
		return prio[a.Component+"/"+a.Step].Compare(prio[b.Component+"/"+b.Step])
	})
}

// stepNode is one step of a rendered component, as pullOrder sees it:
// what it needs ("component/step") and the seconds its pods declare they
// cannot be Ready before.
type stepNode struct {
	Needs []string
	Wait  int64
}

// stepGraph is p's steps ("component/step"), each with the steps it needs
// as up schedules them (components.Scheduled, which stages.Up reads too):
// the step before it in its component, and what the declaration says it
// waits for; a component whose steps the graph does not declare waits
// before its first step. A need on a whole component is one on its last
// step.
func stepGraph(p *render.Platform) map[string]stepNode {
	steps := p.StepNames()
	out := map[string]stepNode{}
	for _, c := range p.Components {
		phased := components.HasSteps(c.Name)
		for j, s := range c.Steps {
			var needs []string
			if j > 0 {
				needs = append(needs, c.Name+"/"+c.Steps[j-1].Name)
			}
			if phased || j == 0 {
				declared, after := components.Scheduled(c.Name, s.Name, steps)
				for _, n := range append(declared, after...) {
					comp, step, ok := strings.Cut(n, "/")
					if !ok {
						step = steps[comp][len(steps[comp])-1]
					}
					if node := comp + "/" + step; !slices.Contains(needs, node) {
						needs = append(needs, node)
					}
				}
			}
			var wait int64
			for _, o := range s.Objects {
				wait = max(wait, startWait(o))
			}
			out[c.Name+"/"+s.Name] = stepNode{Needs: needs, Wait: wait}
		}
	}
	return out
}

// priorities returns the priority of every step of g: its own Wait and one
// step, plus the largest of the steps that need it. A need on a step not
// in g is ignored; a cycle (which components.Check rules out) counts each
// step once.
func priorities(g map[string]stepNode) map[string]priority {
	dependents := map[string][]string{}
	for name, n := range g {
		for _, need := range n.Needs {
			dependents[need] = append(dependents[need], name)
		}
	}
	out := map[string]priority{}
	visiting := map[string]bool{}
	var walk func(string) priority
	walk = func(name string) priority {
		if p, ok := out[name]; ok {
			return p
		}
		visiting[name] = true
		var wait int64
		var steps int
		for _, d := range dependents[name] {
			if visiting[d] {
				continue
			}
			p := walk(d)
			wait, steps = max(wait, p.Wait), max(steps, p.Steps)
		}
		visiting[name] = false
		p := priority{Wait: g[name].Wait + wait, Steps: 1 + steps}
		out[name] = p
		return p
	}
	for name := range g {
		walk(name)
	}
	return out
}

// startWait is the seconds o's pods declare they cannot be Ready before:
// the largest initial delay of a container's startup or readiness probe
// (the kubelet does not probe before it, so no pod is Ready sooner). It is
// what the product knows of a slow start from what it renders.
func startWait(o *unstructured.Unstructured) int64 {
	path, ok := PodSpecPath(o.GetKind())
	if !ok {
		return 0
	}
	cs, _, _ := unstructured.NestedSlice(o.Object, append(slices.Clone(path), "containers")...)
	var wait int64
	for _, c := range cs {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		for _, probe := range []string{"startupProbe", "readinessProbe"} {
			d, _, _ := unstructured.NestedFieldNoCopy(m, probe, "initialDelaySeconds")
			switch v := d.(type) {
			case int64:
				wait = max(wait, v)
			case float64:
				wait = max(wait, int64(v))
			}
		}
	}
	return wait
}
