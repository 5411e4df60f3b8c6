package engine

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestMappingSeesNewCRDs: a kind looked up before its CRD exists (the
// engine does, to default namespaces and pick webhook samples) must
// resolve once a stage installed the CRD, or webhooks of that kind are
// never dry-run and objects of it never observed.
func TestMappingSeesNewCRDs(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ns := uniq(t, "mapper")
	group := ns + ".test.neuroscale.dev"
	gvk := schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Widget"}
	if _, ok, err := e.mapping(gvk); err != nil || ok {
		t.Fatalf("before the CRD: ok=%v err=%v, want no match", ok, err)
	}
	step := manifestStep(t, ns, group, "v", false)
	// Only the namespace and the CRD.
	step.Objects = []*unstructured.Unstructured{step.Objects[0], step.Objects[2]}
	if err := e.Converge(context.Background(), component(t, "mapper", ns, nil, step), Spec{}); err != nil {
		t.Fatal(err)
	}
	m, ok, err := e.mapping(gvk)
	if err != nil || !ok {
		t.Fatalf("after the CRD is Established: ok=%v err=%v, want a mapping", ok, err)
	}
	if got := fmt.Sprint(m.Resource); got != group+"/v1, Resource=widgets" {
		t.Fatalf("mapped to %s", got)
	}
}
