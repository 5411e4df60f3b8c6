package engine

import (
	"errors"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestObjectBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want time.Duration
	}{
		{
			// The dev profile's Backstage: startup 120 + 10×30 + 5, readiness
			// 120 + 10×3 + 5, plus the pull allowance.
			name: "backstage dev probes",
			yaml: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: neuroscale-backstage}
spec:
  template:
    spec:
      containers:
      - name: backstage
        startupProbe: {initialDelaySeconds: 120, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 30}
        readinessProbe: {initialDelaySeconds: 120, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3}
        livenessProbe: {initialDelaySeconds: 300}
`,
			want: PullAllowance + (425+155)*time.Second,
		},
		{
			name: "defaults of unset probe fields (period 10, failures 3, timeout 1)",
			yaml: `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers:
      - name: a
        readinessProbe: {exec: {command: [true]}}
      - name: b
        readinessProbe: {initialDelaySeconds: 60}
`,
			want: PullAllowance + 91*time.Second,
		},
		{
			name: "no probes: pull allowance only",
			yaml: `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: d}, spec: {template: {spec: {containers: [{name: c}]}}}}`,
			want: PullAllowance,
		},
		{
			name: "inference service",
			yaml: `{apiVersion: serving.kserve.io/v1beta1, kind: InferenceService, metadata: {name: demo-iris-2}}`,
			want: InferenceBudget,
		},
		{
			name: "anything else",
			yaml: `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: x}}`,
			want: MinBudget,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := obj(t, tt.yaml)
			if got := ObjectBudget(o); got != tt.want {
				t.Fatalf("budget %s, want %s", got, tt.want)
			}
		})
	}
	objs := []*unstructured.Unstructured{obj(t, tests[0].yaml), obj(t, tests[4].yaml)}
	if got := Budget(objs, 0); got != tests[0].want {
		t.Errorf("step budget %s, want the largest %s", got, tests[0].want)
	}
	if got := Budget(objs, 42*time.Second); got != 42*time.Second {
		t.Errorf("configured timeout not honoured: %s", got)
	}
}

func TestRulesMatch(t *testing.T) {
	t.Parallel()
	ns := admissionv1.NamespacedScope
	cl := admissionv1.ClusterScope
	isvc := schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	rule := func(ops []admissionv1.OperationType, groups, versions, resources []string, scope *admissionv1.ScopeType) []admissionv1.RuleWithOperations {
		return []admissionv1.RuleWithOperations{{Operations: ops, Rule: admissionv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources, Scope: scope}}}
	}
	create := []admissionv1.OperationType{admissionv1.Create}
	tests := []struct {
		name  string
		rules []admissionv1.RuleWithOperations
		want  bool
	}{
		{"exact", rule(create, []string{"serving.kserve.io"}, []string{"v1beta1"}, []string{"inferenceservices"}, nil), true},
		{"wildcards", rule([]admissionv1.OperationType{admissionv1.OperationAll}, []string{"*"}, []string{"*"}, []string{"*/*"}, nil), true},
		{"update only", rule([]admissionv1.OperationType{admissionv1.Update}, []string{"*"}, []string{"*"}, []string{"*"}, nil), false},
		{"other group", rule(create, []string{"cert-manager.io"}, []string{"*"}, []string{"*"}, nil), false},
		{"subresource only", rule(create, []string{"*"}, []string{"*"}, []string{"inferenceservices/status"}, nil), false},
		{"namespaced scope", rule(create, []string{"*"}, []string{"*"}, []string{"*"}, &ns), true},
		{"cluster scope", rule(create, []string{"*"}, []string{"*"}, []string{"*"}, &cl), false},
	}
	for _, tt := range tests {
		if got := rulesMatch(tt.rules, isvc, true); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDryRunVerdict(t *testing.T) {
	t.Parallel()
	s := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}`)
	gr := schema.GroupResource{Resource: "configmaps"}
	tests := []struct {
		name    string
		err     error
		working bool
	}{
		{"accepted", nil, true},
		{"denied by the webhook: it answered", apierrors.NewForbidden(gr, "x", errors.New(`admission webhook "validate.kyverno.svc" denied the request`)), true},
		{"invalid object: it answered", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil), true},
		{"no endpoints", apierrors.NewInternalError(errors.New(`failed calling webhook "guard": no endpoints available for service "guard-webhook"`)), false},
		{"timeout", apierrors.NewTimeoutError("webhook call timed out", 10), false},
	}
	for _, tt := range tests {
		if got := dryRunVerdict(s, tt.err) == ""; got != tt.working {
			t.Errorf("%s: working=%v, want %v (%q)", tt.name, got, tt.working, dryRunVerdict(s, tt.err))
		}
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "serving.kserve.io", Resource: "inferenceservices"}
	tests := []struct {
		err  error
		want bool
	}{
		{apierrors.NewForbidden(gr, "demo-iris-2", errors.New("status unknown for quota: default-namespace-quota, resources: count/inferenceservices.serving.kserve.io")), true},
		{apierrors.NewInternalError(errors.New(`failed calling webhook "inferenceservice.kserve-webhook-server.validator.webhook": no endpoints available for service "kserve-webhook-server-service"`)), true},
		{apierrors.NewServiceUnavailable("etcd leader changed"), true},
		{apierrors.NewForbidden(gr, "demo-iris-2", errors.New(`admission webhook "validate.kyverno.svc-fail" denied the request: label cost-center is required`)), false},
		{apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "x", nil), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
