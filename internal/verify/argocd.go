package verify

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// ArgoCD's resources.
var (
	ApplicationGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	ApplicationSetGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applicationsets"}
)

// AppState is one ArgoCD Application's sync and health.
type AppState struct {
	Name   string
	Sync   string
	Health string
	// Message is the latest operation's message, or a condition's.
	Message string
}

// String is the state as evidence: "demo-iris-2 OutOfSync/Degraded: ...".
func (a AppState) String() string {
	s := fmt.Sprintf("%s %s/%s", a.Name, orUnknown(a.Sync), orUnknown(a.Health))
	if a.Message != "" {
		s += ": " + a.Message
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// ApplicationStates lists the Applications in ns with their status.
func ApplicationStates(ctx context.Context, dyn dynamic.Interface, ns string) ([]AppState, error) {
	list, err := dyn.Resource(ApplicationGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ArgoCD Applications in %s: %w", ns, err)
	}
	var out []AppState
	for _, a := range list.Items {
		st := AppState{Name: a.GetName()}
		st.Sync, _, _ = unstructured.NestedString(a.Object, "status", "sync", "status")
		st.Health, _, _ = unstructured.NestedString(a.Object, "status", "health", "status")
		st.Message, _, _ = unstructured.NestedString(a.Object, "status", "operationState", "message")
		if st.Message == "" {
			conds, _, _ := unstructured.NestedSlice(a.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok {
					if msg, ok := m["message"].(string); ok && msg != "" {
						st.Message = msg
						break
					}
				}
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func applicationSetExists(ctx context.Context, dyn dynamic.Interface, ns, name string) error {
	if _, err := dyn.Resource(ApplicationSetGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("ApplicationSet %s/%s: %w", ns, name, err)
	}
	return nil
}
