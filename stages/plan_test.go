package stages_test

import (
	"slices"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/stages"
)

func TestPlanOrder(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	off := false
	tests := []struct {
		name     string
		platform config.Platform
		want     []string
		// needs of one component, checked exactly
		comp  string
		needs []string
	}{
		{
			name:  "dev",
			want:  []string{"cert-manager", "knative-serving", "kourier", "kserve", "argocd", "kyverno", "backstage", "demo"},
			comp:  "demo",
			needs: []string{"kserve", "kyverno"},
		},
		{
			name:     "kyverno off",
			platform: config.Platform{Components: config.Components{Kyverno: &config.Component{Enabled: &off}}},
			want:     []string{"cert-manager", "knative-serving", "kourier", "kserve", "argocd", "backstage", "demo"},
			comp:     "demo",
			needs:    []string{"kserve"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.platform
			p.APIVersion, p.Kind, p.Profile = config.APIVersion, config.KindPlatform, "dev"
			r, err := config.Resolve(&p, nil)
			if err != nil {
				t.Fatal(err)
			}
			plan := stages.Plan(cat, r)
			var names []string
			for i, c := range plan {
				names = append(names, c.Name)
				for _, n := range c.Needs {
					if !slices.ContainsFunc(plan[:i], func(e stages.Planned) bool { return e.Name == n }) {
						t.Errorf("%s needs %s, which is not applied before it", c.Name, n)
					}
				}
				if c.Name == tt.comp && !slices.Equal(c.Needs, tt.needs) {
					t.Errorf("%s needs %q, want %q", c.Name, c.Needs, tt.needs)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("order %q, want %q", names, tt.want)
			}
		})
	}
}
