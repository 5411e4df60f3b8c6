package validate

import (
	"testing"

	"github.com/goccy/go-yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWildcard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"?*", "", false},
		{"?*", "a", true},
		{"*:*", "kserve/sklearnserver:v0.20.0", true},
		{"*:*", "docker.io/library/nginx", false},
		{"*:latest", "registry:5000/app:latest", true},
		{"*:latest", "registry:5000/app:v1", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"de*", "default", true},
	} {
		if got := wildcard(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestValueMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"!*:latest", "nginx:latest", false},
		{"!*:latest", "nginx:1.27", true},
		{"Enforce|Audit", "Audit", true},
		{"Enforce|Audit", "audit", false},
		{"!a|b", "a", false},
		{"!a|b", "c", true},
	} {
		if got := valueMatches(tc.p, tc.s); got != tc.want {
			t.Errorf("valueMatches(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return normalize(m).(map[string]any)
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	pattern := decode(t, `
spec:
  template:
    spec:
      containers:
        - resources:
            requests: {cpu: "?*", memory: "?*"}
          securityContext:
            runAsNonRoot: true
`)["spec"]
	for _, tc := range []struct {
		name, obj string
		fails     bool
	}{
		{"all set", `
template:
  spec:
    containers:
      - resources: {requests: {cpu: 100m, memory: 1Gi}}
        securityContext: {runAsNonRoot: true}
      - resources: {requests: {cpu: 1, memory: 1Gi}}
        securityContext: {runAsNonRoot: true}`, false},
		{"second container misses memory", `
template:
  spec:
    containers:
      - resources: {requests: {cpu: 100m, memory: 1Gi}}
        securityContext: {runAsNonRoot: true}
      - resources: {requests: {cpu: 1}}
        securityContext: {runAsNonRoot: true}`, true},
		{"runs as root", `
template:
  spec:
    containers:
      - resources: {requests: {cpu: 100m, memory: 1Gi}}
        securityContext: {runAsNonRoot: false}`, true},
		{"no containers key", `
template:
  spec: {}`, true},
	} {
		where, err := matchPattern(decode(t, tc.obj), pattern, "spec")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (where != "") != tc.fails {
			t.Errorf("%s: mismatch at %q, want failure %v", tc.name, where, tc.fails)
		}
	}
	if _, err := matchPattern(map[string]any{}, map[string]any{"=(x)": "y"}, ""); err == nil {
		t.Error("an anchor was judged instead of reported as unsupported")
	}
}

func TestRuleApplies(t *testing.T) {
	t.Parallel()
	rule := decode(t, `
match:
  any:
    - resources:
        kinds: [apps/v1/Deployment]
        namespaces: [default]
exclude:
  any:
    - resources:
        selector:
          matchExpressions:
            - {key: serving.knative.dev/configuration, operator: Exists}
`)
	obj := func(apiVersion, kind, ns string, labels map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": "x", "namespace": ns, "labels": labels},
		}}
	}
	for _, tc := range []struct {
		name string
		o    *unstructured.Unstructured
		want bool
	}{
		{"deployment in default", obj("apps/v1", "Deployment", "default", nil), true},
		{"deployment elsewhere", obj("apps/v1", "Deployment", "kserve", nil), false},
		{"knative deployment", obj("apps/v1", "Deployment", "default", map[string]any{"serving.knative.dev/configuration": "demo"}), false},
		{"other kind", obj("v1", "Pod", "default", nil), false},
	} {
		if got := ruleApplies(rule, tc.o); got != tc.want {
			t.Errorf("%s: applies = %v, want %v", tc.name, got, tc.want)
		}
	}
}
