package render

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// toUnstructured turns a decoded YAML document into an object.
func toUnstructured(v any) (*unstructured.Unstructured, error) {
	j, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	m, ok := j.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("document is a %T, not a mapping", j)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// jsonValue converts decoded YAML into the JSON-shaped values that
// unstructured objects hold, exactly as a YAML→JSON→Kubernetes JSON
// decode would: string keys (other scalars formatted as JSON would print
// them), int64 for integers and for floats that are whole numbers,
// float64 otherwise.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, string, bool, int64:
		return t, nil
	case int:
		return int64(t), nil
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t), nil
		}
		return float64(t), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%v cannot be represented in JSON", t)
		}
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t), nil
		}
		return t, nil
	case []any:
		out := make([]any, len(t))
		for i := range t {
			c, err := jsonValue(t[i])
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			c, err := jsonValue(val)
			if err != nil {
				return nil, err
			}
			out[jsonKey(k)] = c
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			c, err := jsonValue(val)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected YAML value of type %T", v)
}

func jsonKey(k any) string {
	switch t := k.(type) {
	case string:
		return t
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	return fmt.Sprint(k)
}

// ParseYAML splits a multi-document stream into objects, skipping
// documents that are empty or only comments (Helm leaves those for
// templates that render nothing). It decodes with YAML 1.1 rules, as
// sigs.k8s.io/yaml and so kubectl and Helm do, but converts the result
// directly instead of through JSON: twice as fast on the platform's 5 MB
// of CRDs, and with the same types (see jsonValue).
func ParseYAML(s string) ([]*unstructured.Unstructured, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	var out []*unstructured.Unstructured
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var raw any
		if err := yaml.Unmarshal(doc, &raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if raw == nil {
			continue
		}
		u, err := toUnstructured(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d has no apiVersion or kind: %.120q", len(out)+1, doc)
		}
		out = append(out, u)
	}
}

// clusterScoped lists the built-in cluster-scoped kinds; custom kinds are
// looked up in the CRDs the platform itself renders.
var clusterScoped = map[schema.GroupKind]bool{
	{Group: "", Kind: "Namespace"}:                                                    true,
	{Group: "", Kind: "Node"}:                                                         true,
	{Group: "", Kind: "PersistentVolume"}:                                             true,
	{Group: "", Kind: "ComponentStatus"}:                                              true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:                                        true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:                               true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}:                 true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}:                       true,
	{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}:       true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:                                   true,
}

// scopesFrom maps every custom kind the platform defines to whether it is
// namespaced, read from the rendered CRDs' spec.scope.
func scopesFrom(p *Platform) map[schema.GroupKind]bool {
	out := map[schema.GroupKind]bool{}
	for _, c := range p.Components {
		for _, o := range c.Objects() {
			if o.GetKind() != "CustomResourceDefinition" {
				continue
			}
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			if kind != "" {
				out[schema.GroupKind{Group: group, Kind: kind}] = scope != "Cluster"
			}
		}
	}
	return out
}

// Namespaced reports whether objects of gk live in a namespace: built-in
// kinds from a fixed list, custom kinds from the CRDs in crdScopes, and
// otherwise by name, since custom cluster-scoped kinds are by convention
// called Cluster… (ClusterIssuer, ClusterPolicy, ClusterServingRuntime).
func Namespaced(gk schema.GroupKind, crdScopes map[schema.GroupKind]bool) bool {
	if clusterScoped[gk] {
		return false
	}
	if ns, ok := crdScopes[gk]; ok {
		return ns
	}
	return !strings.HasPrefix(gk.Kind, "Cluster")
}

// defaultNamespace gives namespaced objects without a namespace the
// step's namespace (what Helm and kubectl do at apply time), and strips a
// namespace from cluster-scoped ones, so every object is named exactly.
func defaultNamespace(s *Step, scopes map[schema.GroupKind]bool) {
	for _, o := range s.Objects {
		if Namespaced(o.GroupVersionKind().GroupKind(), scopes) {
			if o.GetNamespace() == "" {
				o.SetNamespace(s.Namespace)
			}
		} else if o.GetNamespace() != "" {
			o.SetNamespace("")
		}
	}
}

// digest is a sha256 over the canonical JSON (sorted keys) of every step's
// values and objects. Secret values are left out: charts generate random
// passwords and timestamps into Secrets on every render, which would make
// every digest differ, while a change the user makes reaches a Secret
// through the values, which are in the digest.
func digest(c *Component) (string, error) {
	type step struct {
		Kind    StepKind         `json:"kind"`
		Name    string           `json:"name"`
		Chart   string           `json:"chart,omitempty"`
		Values  map[string]any   `json:"values,omitempty"`
		Objects []map[string]any `json:"objects"`
	}
	var steps []step
	for _, s := range c.Steps {
		st := step{Kind: s.Kind, Name: s.Name, Values: s.Values}
		if s.Kind == StepChart {
			st.Chart = s.ChartName + "@" + s.ChartVersion
		}
		for _, o := range s.Objects {
			st.Objects = append(st.Objects, Redact(o).Object)
		}
		steps = append(steps, st)
	}
	b, err := json.Marshal(struct {
		Name, Namespace, Version string
		Steps                    []step
	}{c.Name, c.Namespace, c.Version, steps})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
