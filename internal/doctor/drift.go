package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// driftResources are the kinds neuroscale applies (charts, overlays,
// policies, the demo) that doctor looks at for hand edits. A kind whose
// API is not installed is skipped.
func driftResources() []schema.GroupVersionResource {
	g := func(group, version, resource string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
	}
	return []schema.GroupVersionResource{
		g("apps", "v1", "deployments"), g("apps", "v1", "statefulsets"), g("apps", "v1", "daemonsets"),
		g("", "v1", "services"), g("", "v1", "configmaps"), g("", "v1", "secrets"), g("", "v1", "serviceaccounts"),
		g("rbac.authorization.k8s.io", "v1", "clusterroles"), g("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
		g("rbac.authorization.k8s.io", "v1", "roles"), g("rbac.authorization.k8s.io", "v1", "rolebindings"),
		g("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"),
		g("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
		g("networking.k8s.io", "v1", "ingressclasses"),
		g("kyverno.io", "v1", "clusterpolicies"),
		g("serving.kserve.io", "v1beta1", "inferenceservices"),
		g("serving.kserve.io", "v1alpha1", "clusterservingruntimes"),
		g("argoproj.io", "v1alpha1", "applicationsets"),
	}
}

// handTools are the field-manager prefixes of tools people edit objects
// with: kubectl (kubectl-edit, kubectl-patch, kubectl-client-side-apply,
// kubectl-set, kubectl-scale, kubectl-label, ...), k9s, Lens, Headlamp,
// the dashboard. Controllers also write to the objects neuroscale applies
// (cert-manager's cainjector fills webhook caBundles, Knative updates its
// webhook rules); counting them would cry wolf on every healthy platform.
func handTools() []string {
	return []string{"kubectl", "k9s", "lens", "headlamp", "kubernetes-dashboard", "dashboard", "mozilla"}
}

// ignoredFields are fields people's tools write without changing what runs.
func ignoredFields() []string {
	return []string{
		"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
		"spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt",
	}
}

// handEdit is what one hand tool changed on an object.
type handEdit struct {
	Manager   string
	Operation string
	Time      *metav1.Time
	Fields    []string
}

// String is the edit as evidence: manager, operation, time and fields.
func (h handEdit) String() string {
	when := ""
	if h.Time != nil {
		when = ", " + h.Time.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (%s%s) owns %s", h.Manager, h.Operation, when, firstN(h.Fields, ", "))
}

// handEdits returns the fields that people's tools own on an object that
// one of ours (field managers) applied; nil when ours never applied it.
func handEdits(mfs []metav1.ManagedFieldsEntry, ours []string) []handEdit {
	applied := false
	for _, mf := range mfs {
		if slices.Contains(ours, mf.Manager) {
			applied = true
		}
	}
	if !applied {
		return nil
	}
	var out []handEdit
	for _, mf := range mfs {
		if slices.Contains(ours, mf.Manager) || mf.Subresource != "" || !isHandTool(mf.Manager) || mf.FieldsV1 == nil {
			continue
		}
		var fields []string
		for _, f := range flattenFields(mf.FieldsV1.Raw) {
			if !slices.Contains(ignoredFields(), f) {
				fields = append(fields, f)
			}
		}
		if len(fields) > 0 {
			out = append(out, handEdit{Manager: mf.Manager, Operation: string(mf.Operation), Time: mf.Time, Fields: fields})
		}
	}
	return out
}

func isHandTool(manager string) bool {
	m := strings.ToLower(manager)
	for _, p := range handTools() {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

// flattenFields turns a managedFields fieldsV1 set into the paths of the
// fields it owns, like spec.template.spec.containers[name=app].image.
// Keys are f:<field>, k:<json key of a list item>, v:<set value>, i:<index>;
// "." is the element itself, reported only when it owns nothing inside.
func flattenFields(raw []byte) []string {
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil
	}
	var out []string
	var walk func(prefix string, node map[string]any)
	walk = func(prefix string, node map[string]any) {
		children := 0
		for k := range node {
			if k != "." {
				children++
			}
		}
		if children == 0 {
			if prefix != "" {
				out = append(out, prefix)
			}
			return
		}
		for k, v := range node {
			if k == "." {
				continue
			}
			child, _ := v.(map[string]any)
			walk(prefix+pathElem(k, prefix == ""), child)
		}
	}
	walk("", tree)
	sort.Strings(out)
	return out
}

func pathElem(key string, first bool) string {
	kind, rest, ok := strings.Cut(key, ":")
	if !ok {
		return "." + key
	}
	switch kind {
	case "f":
		if first {
			return rest
		}
		return "." + rest
	case "k":
		var m map[string]any
		if err := json.Unmarshal([]byte(rest), &m); err != nil {
			return "[" + rest + "]"
		}
		parts := make([]string, 0, len(m))
		for mk, mv := range m {
			parts = append(parts, fmt.Sprintf("%s=%v", mk, mv))
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case "v":
		return "[=" + strings.Trim(rest, `"`) + "]"
	case "i":
		return "[" + rest + "]"
	}
	return "." + key
}

func checkDrift(ctx context.Context, e *env) ([]Finding, error) {
	var out []Finding
	for _, gvr := range driftResources() {
		list, err := e.Metadata.Resource(gvr).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
		}
		kind := singular(gvr.Resource)
		for _, item := range list.Items {
			edits := handEdits(item.ManagedFields, e.OurManagers)
			if len(edits) == 0 {
				continue
			}
			var ev []string
			for _, h := range edits {
				ev = append(ev, h.String())
			}
			out = append(out, Finding{
				ID:       IDDrift,
				Object:   object(kind, item.Namespace, item.Name),
				Message:  "changed by hand since neuroscale applied it; neuroscale up --reapply puts neuroscale's values back (a plain up only checks an unchanged component's health), and until then the platform is not what its configuration says",
				Fix:      "make the change in neuroscale.yaml (components.<name>.values, backstage:, ...) and run neuroscale up; neuroscale up --reapply alone restores the applied values",
				Evidence: strings.Join(ev, "; "),
			})
		}
	}
	return out, nil
}

// singular turns a resource name into its kind's name for messages:
// deployments → deployment, clusterpolicies → clusterpolicy,
// ingressclasses → ingressclass.
func singular(resource string) string {
	switch {
	case strings.HasSuffix(resource, "ies"):
		return strings.TrimSuffix(resource, "ies") + "y"
	case strings.HasSuffix(resource, "sses"):
		return strings.TrimSuffix(resource, "es")
	}
	return strings.TrimSuffix(resource, "s")
}
