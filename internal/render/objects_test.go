package render

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func TestParseYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []map[string]any
		wantErr string
	}{
		{
			name: "types as Kubernetes decodes them",
			in: `# Source: x
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data:
  int: 3
  whole: 2.0
  frac: 0.5
  big: 9223372036854775807
  yes: yes # YAML 1.1, as kubectl reads it: key and value both true
  date: 2024-01-02
  null: ~
  quoted: "007"
  list: [1, "b"]
  nested: {1: one, true: t}
`,
			want: []map[string]any{{
				"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a"},
				"data": map[string]any{
					"int": int64(3), "whole": int64(2), "frac": 0.5, "big": int64(9223372036854775807),
					"true": true, "date": "2024-01-02", "null": nil, "quoted": "007",
					"list":   []any{int64(1), "b"},
					"nested": map[string]any{"1": "one", "true": "t"},
				},
			}},
		},
		{
			name: "empty and comment-only documents are skipped",
			in:   "---\n# nothing\n---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n",
			want: []map[string]any{{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}}},
		},
		{name: "no kind", in: "apiVersion: v1\nmetadata: {name: x}\n", wantErr: "no apiVersion or kind"},
		{name: "not a mapping", in: "- a\n- b\n", wantErr: "not a mapping"},
		{name: "broken YAML", in: "kind: [\n", wantErr: "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := ParseYAML(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			for _, o := range objs {
				got = append(got, o.Object)
				o.DeepCopy() // panics on any non-JSON type
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestParseYAMLMatchesSigsYAML: the fast path gives what the usual
// YAML→JSON→unstructured path gives, on a document with every shape.
func TestParseYAMLMatchesSigsYAML(t *testing.T) {
	t.Parallel()
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {a: \"1\"}\ndata:\n  x: |\n    multi\n    line\n  y: 1.5\n  z: 10\n  w: [true, null, {k: v}]\n"
	objs, err := ParseYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var want unstructured.Unstructured
	if err := want.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(objs[0].Object, want.Object) {
		t.Errorf("got  %#v\nwant %#v", objs[0].Object, want.Object)
	}
}

func TestNamespaced(t *testing.T) {
	t.Parallel()
	crds := map[schema.GroupKind]bool{
		{Group: "serving.kserve.io", Kind: "InferenceService"}:      true,
		{Group: "serving.kserve.io", Kind: "ClusterServingRuntime"}: false,
		{Group: "example.com", Kind: "ClusterThing"}:                true, // the CRD wins over the name
	}
	tests := []struct {
		gk   schema.GroupKind
		want bool
	}{
		{schema.GroupKind{Kind: "ConfigMap"}, true},
		{schema.GroupKind{Kind: "Namespace"}, false},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}, false},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}, true},
		{schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, false},
		{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, false},
		{schema.GroupKind{Group: "serving.kserve.io", Kind: "InferenceService"}, true},
		{schema.GroupKind{Group: "serving.kserve.io", Kind: "ClusterServingRuntime"}, false},
		{schema.GroupKind{Group: "example.com", Kind: "ClusterThing"}, true},
		{schema.GroupKind{Group: "kyverno.io", Kind: "ClusterPolicy"}, false}, // no CRD known: by name
		{schema.GroupKind{Group: "cert-manager.io", Kind: "Issuer"}, true},
	}
	for _, tt := range tests {
		if got := Namespaced(tt.gk, crds); got != tt.want {
			t.Errorf("Namespaced(%v) = %v, want %v", tt.gk, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"},
		"data": map[string]any{"a": "c2VjcmV0"}, "stringData": map[string]any{"b": "plain"},
	}}
	got := Redact(secret)
	if got == secret {
		t.Fatal("Redact modified the object in place")
	}
	if v, _, _ := unstructured.NestedString(secret.Object, "data", "a"); v != "c2VjcmV0" {
		t.Errorf("original changed: %q", v)
	}
	for _, p := range [][]string{{"data", "a"}, {"stringData", "b"}} {
		if v, _, _ := unstructured.NestedString(got.Object, p...); v != Redacted {
			t.Errorf("%v = %q", p, v)
		}
	}
	// Only core Secrets: a custom kind called Secret is left alone.
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Secret", "data": map[string]any{"a": "x"}}}
	if Redact(other) != other {
		t.Error("a non-core Secret kind was redacted")
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"a": "x"}}}
	if Redact(cm) != cm {
		t.Error("a ConfigMap was redacted")
	}
}
