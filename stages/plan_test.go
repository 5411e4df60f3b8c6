package stages_test

import (
	"fmt"
	"slices"
	"strings"
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
			needs: []string{"kserve", "kyverno/policies"},
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
			plan := planOf(t, cat, tt.platform)
			var names []string
			for i, c := range plan {
				names = append(names, c.Name)
				for _, n := range c.Needs {
					comp, _, _ := strings.Cut(n, "/")
					if !slices.ContainsFunc(plan[:i], func(e stages.Planned) bool { return e.Name == comp }) {
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

// TestPlanSteps: the dry run shows the steps that wait for something else
// than their component's needs, as Up schedules them, and drops what a
// disabled component would have meant.
func TestPlanSteps(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	off := false
	tests := []struct {
		name     string
		platform config.Platform
		want     string
	}{
		{name: "dev", want: "kserve[kserve-crd:[]/[]] kyverno[policies:[kserve/kserve-crd]/[] quota:[kserve/kserve-crd]/[demo]]"},
		{name: "demo off", platform: config.Platform{Components: config.Components{Demo: &config.Component{Enabled: &off}}},
			want: "kserve[kserve-crd:[]/[]] kyverno[policies:[kserve/kserve-crd]/[] quota:[kserve/kserve-crd]/[]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range planOf(t, cat, tt.platform) {
				if len(c.Steps) == 0 {
					continue
				}
				var steps []string
				for _, s := range c.Steps {
					steps = append(steps, fmt.Sprintf("%s:%v/%v", s.Name, s.Needs, s.After))
				}
				got = append(got, c.Name+"["+strings.Join(steps, " ")+"]")
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("steps\n got %s\nwant %s", g, tt.want)
			}
		})
	}
}

// planOf is stages.Plan of p on the dev profile.
func planOf(t *testing.T, cat *catalog.Catalog, p config.Platform) []stages.Planned {
	t.Helper()
	p.APIVersion, p.Kind, p.Profile = config.APIVersion, config.KindPlatform, "dev"
	r, err := config.Resolve(&p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stages.Plan(cat, r)
}
