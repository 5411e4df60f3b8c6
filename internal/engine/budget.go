package engine

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Budgets. A wait is as long as the slowest thing it waits for may
// legitimately take, not a fixed 5 minutes: Backstage's own startup probe
// allows it 7 minutes to start, and killing the wait earlier reports a
// healthy install as broken.
const (
	// MinBudget is the least any wait gets: CRDs, Services, webhooks.
	MinBudget = 2 * time.Minute
	// PullAllowance is added to a workload's probe budget for scheduling
	// and pulling images; Backstage's and KServe's are 0.6–2 GB.
	PullAllowance = 3 * time.Minute
	// InferenceBudget covers an InferenceService: predictor image (about
	// 1 GB), model download and the Knative revision becoming Ready.
	InferenceBudget = 10 * time.Minute
)

// probeBudget is the longest a container may take to pass a probe before
// Kubernetes gives up on it, with Kubernetes' defaults for unset fields.
func probeBudget(p map[string]any) time.Duration {
	if p == nil {
		return 0
	}
	get := func(k string, def int64) int64 {
		if v, ok, _ := unstructured.NestedInt64(p, k); ok {
			return v
		}
		if v, ok, _ := unstructured.NestedFloat64(p, k); ok {
			return int64(v)
		}
		return def
	}
	delay := get("initialDelaySeconds", 0)
	period := get("periodSeconds", config.ProbeDefaultPeriodSeconds)
	timeout := get("timeoutSeconds", config.ProbeDefaultTimeoutSeconds)
	fail := get("failureThreshold", config.ProbeDefaultFailureThreshold)
	return time.Duration(delay+period*fail+timeout) * time.Second
}

// ObjectBudget is how long obj may take to become Ready. For workloads it
// is derived from their containers' startup and readiness probes (a
// readiness probe only starts once the startup probe passed, so they add
// up) plus PullAllowance; other objects get MinBudget.
func ObjectBudget(obj *unstructured.Unstructured) time.Duration {
	gvk := obj.GroupVersionKind()
	var podSpecPath []string
	switch {
	case gvk.Group == "apps" && (gvk.Kind == "Deployment" || gvk.Kind == "StatefulSet" || gvk.Kind == "DaemonSet" || gvk.Kind == "ReplicaSet"):
		podSpecPath = []string{"spec", "template", "spec"}
	case gvk.Group == "batch" && gvk.Kind == "Job":
		podSpecPath = []string{"spec", "template", "spec"}
	case gvk.Group == "" && gvk.Kind == "Pod":
		podSpecPath = []string{"spec"}
	case gvk.Group == "serving.kserve.io" && gvk.Kind == "InferenceService":
		return InferenceBudget
	default:
		return MinBudget
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, append(podSpecPath, "containers")...)
	var longest time.Duration
	for _, c := range containers {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		startup, _ := cm["startupProbe"].(map[string]any)
		readiness, _ := cm["readinessProbe"].(map[string]any)
		if d := probeBudget(startup) + probeBudget(readiness); d > longest {
			longest = d
		}
	}
	b := PullAllowance + longest
	if b < MinBudget {
		b = MinBudget
	}
	return b
}

// Budget is the wait budget for a set of objects that progress in
// parallel: the largest of theirs. override, when set (the config's
// components.<name>.timeout), replaces it.
func Budget(objs []*unstructured.Unstructured, override time.Duration) time.Duration {
	if override > 0 {
		return override
	}
	b := MinBudget
	for _, o := range objs {
		if d := ObjectBudget(o); d > b {
			b = d
		}
	}
	return b
}
