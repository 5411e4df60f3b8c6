package stages_test

import (
	"slices"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/stages"
	graph "github.com/neuroscale-dev/neuroscale/stages/components"
)

// platformOf is a rendered platform of the named components with the
// catalog's step names and the graph's needs, without objects: enough for
// the install graph.
func platformOf(names ...string) *render.Platform {
	steps := map[string][]string{
		graph.CertManager: {"cert-manager"}, graph.KnativeServing: {"crds", "core"},
		graph.Kourier: {"kourier"}, graph.KServe: {"kserve-crd", "kserve"},
		graph.ArgoCD: {"argocd", "gitops"}, graph.Kyverno: {"kyverno", "policies", "quota"},
		graph.Backstage: {"template", "neuroscale-backstage"}, graph.Demo: {"demo"},
	}
	p := &render.Platform{}
	for _, n := range names {
		c := &render.Component{Name: n, Needs: graph.Needs(n)}
		for _, s := range steps[n] {
			c.Steps = append(c.Steps, &render.Step{Name: s})
		}
		p.Components = append(p.Components, c)
	}
	return p
}

// The CRD steps go in first: KServe's stage starts at once and waits for
// cert-manager, Knative and Kourier only before its controller; Kyverno's
// policies wait for KServe's CRDs, not KServe Ready; the demo waits for
// KServe and for Kyverno's policies, and the quota waits for the demo.
func TestUpStartsCRDStepsFirst(t *testing.T) {
	r := &config.Resolved{}
	type want struct {
		needs  []string
		phases []dag.Phase
	}
	tests := []struct {
		name string
		p    *render.Platform
		want map[string]want
	}{
		{
			name: "dev",
			p:    platformOf(graph.Names()...),
			want: map[string]want{
				graph.KServe:  {phases: []dag.Phase{{Name: "kserve-crd"}, {Name: "kserve", Needs: []string{graph.CertManager, graph.KnativeServing, graph.Kourier}}}},
				graph.Kyverno: {phases: []dag.Phase{{Name: "kyverno"}, {Name: "policies", Needs: []string{"kserve/kserve-crd"}}, {Name: "quota", Needs: []string{"kserve/kserve-crd", graph.Demo}, After: []string{graph.Demo}}}},
				graph.Demo:    {needs: []string{graph.KServe, "kyverno/policies"}},
				graph.Kourier: {needs: []string{graph.KnativeServing}},
			},
		},
		{
			name: "kserve off: the policies need nothing",
			p:    platformOf(graph.CertManager, graph.Kyverno, graph.Demo),
			want: map[string]want{
				graph.Kyverno: {phases: []dag.Phase{{Name: "kyverno"}, {Name: "policies"}, {Name: "quota", Needs: []string{graph.Demo}, After: []string{graph.Demo}}}},
				graph.Demo:    {needs: []string{"kyverno/policies"}},
			},
		},
		{
			name: "demo off: the quota goes in after KServe's CRD",
			p:    platformOf(graph.CertManager, graph.KServe, graph.Kyverno),
			want: map[string]want{
				graph.Kyverno: {phases: []dag.Phase{{Name: "kyverno"}, {Name: "policies", Needs: []string{"kserve/kserve-crd"}}, {Name: "quota", Needs: []string{"kserve/kserve-crd"}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := stages.Up(nil, tt.p, r)
			if err := dag.CheckGraph(up); err != nil {
				t.Fatal(err)
			}
			for _, s := range up {
				w, ok := tt.want[s.Name()]
				if !ok {
					continue
				}
				if len(s.Needs()) != 0 || len(w.needs) != 0 {
					if !slices.Equal(s.Needs(), w.needs) {
						t.Errorf("%s starts after %q, want %q", s.Name(), s.Needs(), w.needs)
					}
				}
				var phases []dag.Phase
				if p, ok := s.(dag.Phased); ok {
					phases = p.Phases()
				}
				if !slices.EqualFunc(phases, w.phases, func(a, b dag.Phase) bool {
					return a.Name == b.Name && slices.Equal(a.Needs, b.Needs) && slices.Equal(a.After, b.After)
				}) {
					t.Errorf("%s phases %+v, want %+v", s.Name(), phases, w.phases)
				}
			}
		})
	}
}
