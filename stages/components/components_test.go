package components

import (
	"strings"
	"testing"
)

// TestGraph reads the one declaration: it is consistent, and it holds the
// dependencies the platform relies on.
func TestGraph(t *testing.T) {
	if err := Check(Graph); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(Names(), ","); got != "cert-manager,knative-serving,kourier,kserve,argocd,kyverno,backstage,demo" {
		t.Errorf("install order %s", got)
	}
	for name, want := range map[string]string{
		KServe: "cert-manager,knative-serving,kourier",
		Demo:   "kserve,kyverno",
		ArgoCD: "",
	} {
		if got := strings.Join(Needs(name), ","); got != want {
			t.Errorf("%s needs %q, want %q", name, got, want)
		}
	}
}

func TestCheckRejects(t *testing.T) {
	tests := []struct {
		name  string
		graph []Component
		want  string
	}{
		{"twice", []Component{{Name: "a"}, {Name: "a"}}, `"a" is unnamed or declared twice`},
		{"unknown need", []Component{{Name: "a", Needs: []string{"x"}}}, `"a" needs "x", which is not declared before it`},
		{"later need (a cycle cannot be written in order)", []Component{{Name: "a", Needs: []string{"b"}}, {Name: "b", Needs: []string{"a"}}}, `"a" needs "b"`},
		{"self", []Component{{Name: "a", Needs: []string{"a"}}}, `"a" needs "a"`},
		{"after unknown", []Component{{Name: "a", Steps: []Step{{Name: "s", After: []string{"x"}}}}}, `step "s" goes in after "x"`},
		{"after itself", []Component{{Name: "a", Steps: []Step{{Name: "s", After: []string{"a"}}}}}, `step "s" goes in after "a"`},
	}
	for _, tt := range tests {
		if err := Check(tt.graph); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// A component that a later step goes in after needs its component only up
// to the step before that one; every other need is whole.
func TestNeedUpTo(t *testing.T) {
	steps := []string{"kyverno", "policies", "quota"}
	for _, tt := range []struct{ need, dependent, want string }{
		{Kyverno, Demo, "kyverno/policies"},
		{Kyverno, Backstage, Kyverno},
		{"kserve/kserve-crd", Kyverno, "kserve/kserve-crd"},
		{KServe, Demo, KServe},
	} {
		s := steps
		if tt.need != Kyverno {
			s = []string{"kserve-crd", "kserve"}
		}
		if got := needUpTo(tt.need, tt.dependent, s); got != tt.want {
			t.Errorf("needUpTo(%s, %s) = %s, want %s", tt.need, tt.dependent, got, tt.want)
		}
	}
}
