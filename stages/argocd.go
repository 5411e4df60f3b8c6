package stages

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/neuroscale-dev/neuroscale/internal/engine"
)

// applicationsSynced holds when every ArgoCD Application in namespace is
// Synced and Healthy. No Application at all holds too: the ApplicationSet
// creates one per merged model folder, and an empty repository is fine.
func applicationsSynced(namespace string) engine.Check {
	gvr := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	return engine.Check{
		Name: "ArgoCD Applications in " + namespace,
		Probe: func(ctx context.Context, c engine.Clients) (string, error) {
			list, err := c.Dynamic.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				return "", nil
			}
			if err != nil {
				return "", fmt.Errorf("list applications in %s: %w", namespace, err)
			}
			return unsynced(list.Items), nil
		},
	}
}

// unsynced describes the Applications that are not Synced and Healthy.
func unsynced(apps []unstructured.Unstructured) string {
	var bad []string
	for _, a := range apps {
		sync, _, _ := unstructured.NestedString(a.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(a.Object, "status", "health", "status")
		if sync == "Synced" && health == "Healthy" {
			continue
		}
		msg := fmt.Sprintf("%s is %s/%s", a.GetName(), orUnknown(sync), orUnknown(health))
		if conds, _, _ := unstructured.NestedSlice(a.Object, "status", "conditions"); len(conds) > 0 {
			if m, ok := conds[0].(map[string]any); ok && m["message"] != nil {
				msg += fmt.Sprintf(" (%v)", m["message"])
			}
		}
		bad = append(bad, msg)
	}
	sort.Strings(bad)
	return strings.Join(bad, "; ")
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
