// Package render turns the resolved configuration and the pinned upstream
// charts and manifests into the exact objects neuroscale applies: Helm
// charts through the Helm SDK (client-side, hooks and CRDs included) and
// release manifests through the kustomize API with embedded overlays.
package render

import (
	"fmt"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// StepKind says how a step is applied.
type StepKind string

// Step kinds.
const (
	// StepChart is installed or upgraded as a Helm release.
	StepChart StepKind = "chart"
	// StepManifest is server-side applied with the neuroscale field manager.
	StepManifest StepKind = "manifest"
)

// Platform is the whole rendered platform.
type Platform struct {
	// Profile is the profile it was rendered for.
	Profile string
	// Components are the enabled components, in install order.
	Components []*Component
	// Disabled names the catalog's components that the configuration
	// turned off, in install order. Render does not judge whether that is
	// allowed (validation reports dependents of a disabled component).
	Disabled []string
}

// Component returns the named component, or nil.
func (p *Platform) Component(name string) *Component {
	for _, c := range p.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// StepNames returns the names of each component's steps, in order, by
// component: the enabled components as the stage graph's declaration
// (stages/components.Scheduled) reads them.
func (p *Platform) StepNames() map[string][]string {
	steps := make(map[string][]string, len(p.Components))
	for _, c := range p.Components {
		for _, s := range c.Steps {
			steps[c.Name] = append(steps[c.Name], s.Name)
		}
	}
	return steps
}

// Component is one rendered component: what one stage applies.
type Component struct {
	Name      string
	Namespace string
	// Version is the component's pinned upstream version.
	Version string
	// Needs are the components that must be Ready before this one starts.
	Needs []string
	// Steps are applied in order; each waits for the previous to be Ready.
	Steps []*Step
	// Digest is a sha256 over every step's rendered objects and values:
	// equal digests mean nothing to re-apply.
	Digest string

	// cache is the render cache, where WriteYAML keeps the YAML of each
	// step by Digest (which covers every object as written).
	cache *renderCache
}

// Objects returns every object of every step, in order.
func (c *Component) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, s := range c.Steps {
		out = append(out, s.Objects...)
	}
	return out
}

// Step is one Helm release or one set of manifests.
type Step struct {
	Kind StepKind
	// Name is the release name (chart) or the manifest set's name.
	Name      string
	Namespace string
	// ChartName, ChartVersion and Values are set for StepChart. Values
	// are the final merged values (chart defaults are not included).
	ChartName    string
	ChartVersion string
	Values       map[string]any
	// Chart is the chart when it is held in memory (tests); a render sets
	// ChartFile instead, the archive sources verified, and LoadChart reads
	// it when it is needed: a platform's charts are tens of megabytes in
	// memory, and an up that renders from the cache needs them only to
	// install and to check values.
	Chart     *chart.Chart
	ChartFile string
	// Objects are the rendered objects; for charts, including CRDs and
	// hooks (Hooks lists those separately as Helm runs them itself).
	Objects []*unstructured.Unstructured
	Hooks   []*unstructured.Unstructured
}

// LoadChart returns the step's chart: Chart, or ChartFile loaded anew
// (it is not kept; see Chart).
func (s *Step) LoadChart() (*chart.Chart, error) {
	if s.Chart != nil {
		return s.Chart, nil
	}
	if s.ChartFile == "" {
		return nil, fmt.Errorf("chart step %s has no chart", s.Name)
	}
	ch, err := loader.Load(s.ChartFile)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", s.ChartFile, err)
	}
	if ch.Name() != s.ChartName || ch.Metadata.Version != s.ChartVersion {
		return nil, fmt.Errorf("%s holds chart %s %s, the catalog pins %s %s", s.ChartFile, ch.Name(), ch.Metadata.Version, s.ChartName, s.ChartVersion)
	}
	return ch, nil
}

// Resources returns the step's objects that are not hooks: what a release
// owns and what readiness is judged on (hook Jobs are often deleted once
// they succeed).
func (s *Step) Resources() []*unstructured.Unstructured {
	if len(s.Hooks) == 0 {
		return s.Objects
	}
	hook := make(map[*unstructured.Unstructured]bool, len(s.Hooks))
	for _, h := range s.Hooks {
		hook[h] = true
	}
	out := make([]*unstructured.Unstructured, 0, len(s.Objects)-len(s.Hooks))
	for _, o := range s.Objects {
		if !hook[o] {
			out = append(out, o)
		}
	}
	return out
}
