package testcluster

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// clusterPortForwardGVR is kwok's ClusterPortForward, a custom resource in
// the test cluster (kwok runs with --enable-crds=ClusterPortForward).
var clusterPortForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterportforwards"}

// ForwardPods makes port-forwards to podPort of the pods named podNames in
// namespace (every pod of namespace when podNames is empty) reach target,
// a host:port the test listens on (say an httptest server's 127.0.0.1:N).
// kwok, which serves the kubelet API, then relays a port-forward through
// the API server (client-go's SPDY or websocket) to target. The rule is
// removed when t ends.
//
// kwok matches pods by namespace and name, not labels; give each test its
// own namespace (Namespace) to forward "the pods of this test". kwok sees
// the rule within a moment, so a caller that connects at once should
// retry briefly.
func (c *Cluster) ForwardPods(t testing.TB, namespace string, podNames []string, podPort int, target string) {
	t.Helper()
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatalf("testcluster: forward target %q: %v", target, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("testcluster: forward target %q: %v", target, err)
	}
	selector := map[string]any{"matchNamespaces": []any{namespace}}
	if len(podNames) > 0 {
		names := make([]any, len(podNames))
		for i, n := range podNames {
			names[i] = n
		}
		selector["matchNames"] = names
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterPortForward",
		"metadata": map[string]any{
			"name":   "forward-" + namespace + "-" + strconv.Itoa(podPort) + "-" + randSuffix(),
			"labels": map[string]any{"testcluster.neuroscale.dev/test": "true"},
		},
		"spec": map[string]any{
			"selector": selector,
			"forwards": []any{map[string]any{
				"ports":  []any{int64(podPort)},
				"target": map[string]any{"address": host, "port": int64(port)},
			}},
		},
	}}
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("testcluster: dynamic client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := dyn.Resource(clusterPortForwardGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testcluster: create ClusterPortForward: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dyn.Resource(clusterPortForwardGVR).Delete(ctx, created.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Logf("testcluster: delete ClusterPortForward %s: %v", created.GetName(), err)
		}
	})
}
