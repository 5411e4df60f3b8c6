package verifytest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

var (
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	clusterLogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
)

// Dynamic returns a dynamic client of the test cluster.
func Dynamic(t testing.TB, c *testcluster.Cluster) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// EnsureCRD installs a namespaced CRD for kind (plural, group, version)
// that keeps any fields, without a status subresource so tests can write
// status with the object, and waits until it is Established. It is shared
// by the package's tests and left in place.
func EnsureCRD(t testing.TB, c *testcluster.Cluster, group, version, kind, plural string) {
	t.Helper()
	dyn := Dynamic(t, c)
	name := plural + "." + group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", name, err)
	}
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				// The API serves the kind a moment after Established.
				_, err := dyn.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: plural}).List(ctx, metav1.ListOptions{Limit: 1})
				return err == nil, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not established: %v", name, err)
	}
}

// ServeLogs makes every container of the pods in namespace ns show lines
// as its log, through the API server's pods/log like a real kubelet's
// (kwok's ClusterLogs reading a file in CRI format). The rule is removed
// when t ends. The returned function replaces the log's lines; kwok reads
// the file at every request.
func ServeLogs(t testing.TB, c *testcluster.Cluster, ns string, lines []string) (set func(lines []string)) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "container.log")
	set = func(lines []string) {
		t.Helper()
		var b strings.Builder
		ts := time.Now().UTC()
		for i, l := range lines {
			b.WriteString(ts.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano) + " stdout F " + l + "\n")
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set(lines)
	dyn := Dynamic(t, c)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": "logs-" + ns},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": []any{ns}},
			"logs":     []any{map[string]any{"logsFile": file}},
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dyn.Resource(clusterLogsGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterLogs: %v (does the test cluster run kwok with ClusterLogs enabled?)", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = dyn.Resource(clusterLogsGVR).Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
	})
	return set
}
