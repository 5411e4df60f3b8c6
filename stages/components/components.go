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
	// Needs must be Ready before this component starts; each comes
	// earlier in Graph.
	Needs []string
}

// Graph is the platform, in install order. Independent components are
// installed in parallel; the order only breaks ties.
var Graph = []Component{
	{Name: CertManager},
	{Name: KnativeServing},
	{Name: Kourier, Needs: []string{KnativeServing}},
	// KServe's webhooks need cert-manager's certificates; its serverless
	// mode needs Knative and an ingress (Kourier).
	{Name: KServe, Needs: []string{CertManager, KnativeServing, Kourier}},
	{Name: ArgoCD},
	// The policies check InferenceServices, a KServe kind.
	{Name: Kyverno, Needs: []string{KServe}},
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

// Needs returns what the named component needs, nil for an unknown name.
func Needs(name string) []string {
	for _, c := range Graph {
		if c.Name == name {
			return slices.Clone(c.Needs)
		}
	}
	return nil
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
		seen[c.Name] = true
	}
	return nil
}
