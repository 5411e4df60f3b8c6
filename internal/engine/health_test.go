package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestUnhealthyUnchangedComponentIsRepairedAtOnce: a component whose
// digest did not change but whose Deployment was broken by hand (its pods
// can no longer be scheduled) is planned as a repair that says why, and
// re-applied at once instead of being waited on for its whole budget.
func TestUnhealthyUnchangedComponentIsRepairedAtOnce(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "sick")
	step := &render.Step{Kind: render.StepManifest, Name: "manifests", Namespace: ns, Objects: []*unstructured.Unstructured{
		obj(t, `{apiVersion: v1, kind: Namespace, metadata: {name: `+ns+`}}`),
		obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: `+ns+`}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: main, image: registry.example/app:1.0}]
`),
	}}
	comp := component(t, "sick", ns, nil, step)
	if err := e.Converge(ctx, comp, Spec{}); err != nil {
		t.Fatalf("first converge: %v", err)
	}

	// Healthy and unchanged: only checked.
	e2 := newEngine(t, c, Options{StateNamespace: e.store.Namespace()})
	if plan := e2.Plan(&render.Platform{Components: []*render.Component{comp}}); plan[0].Action != ActionCheck || plan[0].Reason != "" {
		t.Fatalf("healthy unchanged component planned as %+v, want a check", plan[0])
	}

	// Broken by hand, in a field neuroscale applies: the new pods can no
	// longer be scheduled (the Deployment's rollout never completes).
	patch := []byte(`{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/os":"windows"}}}}}`)
	if _, err := e.kube.AppsV1().Deployments(ns).Patch(ctx, "app", types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	e3 := newEngine(t, c, Options{StateNamespace: e.store.Namespace()})
	pe := e3.Plan(&render.Platform{Components: []*render.Component{comp}})[0]
	if pe.Action != ActionRepair || !strings.Contains(pe.Reason, "unhealthy: Deployment.apps/"+ns+"/app") {
		t.Fatalf("plan %+v; want a repair naming the unhealthy Deployment", pe)
	}
	err := e3.Converge(ctx, comp, Spec{})
	var nc *dag.NoChange
	if errors.As(err, &nc) || err != nil {
		t.Fatalf("converge of the unhealthy component: %v; want it re-applied", err)
	}
	d, err := e.kube.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.NodeSelector["kubernetes.io/os"]; got != "linux" {
		t.Errorf("the hand-made nodeSelector survived the repair: kubernetes.io/os=%s", got)
	}
}

// countingTransport counts the requests whose path contains substr.
type countingTransport struct {
	rt     http.RoundTripper
	substr string
	n      atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, c.substr) {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// TestCheckUsesPreparesLook: an unchanged component that Prepare found
// whole is checked with what Prepare saw, without reading its objects
// again (a no-op up's converge was mostly those reads); once this run has
// applied anything, it is read again.
func TestCheckUsesPreparesLook(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "looked")
	manifest := func(name string) *render.Step {
		return &render.Step{Kind: render.StepManifest, Name: "manifests", Namespace: ns, Objects: []*unstructured.Unstructured{
			obj(t, `{apiVersion: v1, kind: Namespace, metadata: {name: `+ns+`}}`),
			obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: `+name+`, namespace: `+ns+`}, data: {a: b}}`),
		}}
	}
	looked, other := component(t, "looked", ns, nil, manifest("looked")), component(t, "other", ns, nil, manifest("other"))
	for _, comp := range []*render.Component{looked, other} {
		if err := e.Converge(ctx, comp, Spec{}); err != nil {
			t.Fatalf("first converge of %s: %v", comp.Name, err)
		}
	}

	cfg := rest.CopyConfig(c.RESTConfig())
	count := &countingTransport{substr: "/configmaps/looked"}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { count.rt = rt; return count })
	e2, err := New(cfg, Options{StateNamespace: e.store.Namespace(), MaxPoll: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Prepare(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if count.n.Load() == 0 {
		t.Fatal("Prepare did not look at the ConfigMap")
	}
	count.n.Store(0)
	var nc *dag.NoChange
	if err := e2.Converge(ctx, looked, Spec{}); !errors.As(err, &nc) {
		t.Fatalf("check of the unchanged component: %v, want no change", err)
	}
	if n := count.n.Load(); n != 0 {
		t.Errorf("the check read the ConfigMap %d times; Prepare had just seen it", n)
	}

	// Once something was applied in this run, the check reads again.
	changed := component(t, "other", ns, nil, manifest("other2"))
	if err := e2.Converge(ctx, changed, Spec{}); err != nil {
		t.Fatal(err)
	}
	if err := e2.Converge(ctx, looked, Spec{}); !errors.As(err, &nc) {
		t.Fatalf("second check: %v, want no change", err)
	}
	if count.n.Load() == 0 {
		t.Error("after an apply in this run, the check did not read the ConfigMap again")
	}
}
