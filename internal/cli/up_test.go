package cli

import (
	"bytes"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/engine"
)

// TestPrintPlanSaysWhy: the plan names what changes and, for a repair,
// why, before anything is applied.
func TestPrintPlanSaysWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan []engine.PlanEntry
		want string
	}{
		{"nothing", []engine.PlanEntry{{Component: "argocd", Action: engine.ActionCheck}}, "Nothing changed; checking health.\n"},
		{"unhealthy", []engine.PlanEntry{
			{Component: "argocd", Action: engine.ActionCheck},
			{Component: "backstage", Action: engine.ActionRepair, Reason: "unhealthy: Deployment.apps/backstage/backstage is InProgress: Available: 0/1"},
		}, "Applying: backstage (repair: unhealthy: Deployment.apps/backstage/backstage is InProgress: Available: 0/1)\n"},
		{"upgrade and install", []engine.PlanEntry{
			{Component: "kserve", Action: engine.ActionUpgrade, FromVersion: "v0.15.0", ToVersion: "v0.16.0"},
			{Component: "demo", Action: engine.ActionInstall},
		}, "Applying: kserve (v0.15.0 → v0.16.0), demo (install)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printPlan(&b, tt.plan)
			if b.String() != tt.want {
				t.Errorf("printPlan:\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}
