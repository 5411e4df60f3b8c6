package prepull

import (
	"slices"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/prepull/prepulltest"
	"github.com/neuroscale-dev/neuroscale/stages"
)

// TestStepGraphIsUpsGraph checks the step graph the pull order is computed
// on is the one up runs: every step of the dev platform needs, in
// stepGraph, exactly what stages.Up makes it wait for (a stage's needs
// before its first step, each phase's before its step, the step before
// it), a need on a whole stage read as one on its last step.
func TestStepGraphIsUpsGraph(t *testing.T) {
	p, r := prepulltest.PlatformConfig(t)
	steps := p.StepNames()
	onStep := func(needs []string) []string {
		var out []string
		for _, n := range needs {
			if !strings.Contains(n, "/") {
				n += "/" + steps[n][len(steps[n])-1]
			}
			out = append(out, n)
		}
		return out
	}
	want := map[string][]string{}
	for _, st := range stages.Up(nil, p, r) {
		names := steps[st.Name()]
		for j, s := range names {
			var needs []string
			if j > 0 {
				needs = append(needs, st.Name()+"/"+names[j-1])
			}
			if j == 0 {
				needs = append(needs, onStep(st.Needs())...)
			}
			if ph, ok := st.(dag.Phased); ok {
				needs = append(needs, onStep(ph.Phases()[j].Needs)...)
			}
			want[st.Name()+"/"+s] = needs
		}
	}
	g := stepGraph(p)
	if len(g) != len(want) {
		t.Errorf("step graph has %d steps, up %d", len(g), len(want))
	}
	for step, needs := range want {
		got := slices.Clone(g[step].Needs)
		slices.Sort(got)
		slices.Sort(needs)
		needs = slices.Compact(needs)
		if !slices.Equal(got, needs) {
			t.Errorf("step %s needs %q in the pull order's graph, %q in up's", step, got, needs)
		}
	}
}
