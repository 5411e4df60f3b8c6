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
	}
	for _, tt := range tests {
		if err := Check(tt.graph); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
