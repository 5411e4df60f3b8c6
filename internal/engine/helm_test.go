package engine

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestKeepCRDs(t *testing.T) {
	t.Parallel()
	in := `---
# Source: kserve-crd/templates/serving.kserve.io_inferenceservices.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: inferenceservices.serving.kserve.io
  annotations:
    controller-gen.kubebuilder.io/version: v0.16.4
spec:
  group: serving.kserve.io
---
# Source: tiny/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: tiny-cm
data:
  kind: CustomResourceDefinition
---
# Source: kyverno/templates/crds.yaml
apiVersion: apiextensions.k8s.io/v1
kind: "CustomResourceDefinition"
metadata:
  name: policies.kyverno.io
`
	out, err := keepCRDs{}.Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseManifest(out.String())
	if err != nil {
		t.Fatalf("post-rendered manifest does not parse: %v\n%s", err, out)
	}
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3:\n%s", len(objs), out)
	}
	for _, o := range objs {
		keep := o.GetAnnotations()["helm.sh/resource-policy"] == "keep"
		if want := o.GetKind() == "CustomResourceDefinition"; keep != want {
			t.Errorf("%s %s: keep=%v, want %v", o.GetKind(), o.GetName(), keep, want)
		}
	}
	if objs[0].GetAnnotations()["controller-gen.kubebuilder.io/version"] != "v0.16.4" {
		t.Errorf("existing annotations lost: %v", objs[0].GetAnnotations())
	}
	if !strings.Contains(out.String(), "# Source: kserve-crd/templates/serving.kserve.io_inferenceservices.yaml\n") {
		t.Errorf("Helm's source comment lost:\n%s", out)
	}
	if !strings.Contains(out.String(), "data:\n  kind: CustomResourceDefinition\n") {
		t.Errorf("a document that only mentions the kind was rewritten:\n%s", out)
	}
}

// markKeep edits the CRD shapes charts render without parsing them, to the
// same object markKeepParsed gives; the shapes it does not handle it
// leaves to markKeepParsed.
func TestMarkKeep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"no annotations", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.example.io\n  labels:\n    app: a\nspec:\n  group: example.io\n", true},
		{"annotations block", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    # generated\n    controller-gen.kubebuilder.io/version: v0.16.4\n  name: a.example.io\nspec:\n  group: example.io\n", true},
		{"four spaces, metadata last", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n    group: example.io\nmetadata:\n    name: a.example.io\n    annotations:\n        x: |\n          multi\n          line\n", true},
		{"flow annotations", "kind: CustomResourceDefinition\nmetadata:\n  name: a\n  annotations: {x: y}\n", false},
		{"empty flow annotations on their own line", "kind: CustomResourceDefinition\nmetadata:\n  labels:\n    {}\n  annotations:\n    {}\n  name: a\n", true},
		{"flow annotations on their own line", "kind: CustomResourceDefinition\nmetadata:\n  annotations:\n    {x: y}\n  name: a\n", false},
		{"null annotations", "kind: CustomResourceDefinition\nmetadata:\n  name: a\n  annotations:\nspec: {}\n", false},
		{"flow metadata", "kind: CustomResourceDefinition\nmetadata: {name: a}\n", false},
		{"already kept", "kind: CustomResourceDefinition\nmetadata:\n  name: a\n  annotations:\n    a: b\n    helm.sh/resource-policy: keep\n", true},
		{"already kept, quoted (ArgoCD)", "kind: CustomResourceDefinition\nmetadata:\n  annotations:\n    \"helm.sh/resource-policy\": keep\n  name: a\n", true},
		{"kept otherwise", "kind: CustomResourceDefinition\nmetadata:\n  name: a\n  annotations:\n    helm.sh/resource-policy: \"keep\"\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := markKeep(tt.doc)
			if ok != tt.ok {
				t.Fatalf("handled %v, want %v:\n%s", ok, tt.ok, got)
			}
			if !ok {
				return
			}
			want, err := markKeepParsed(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			g, err := parseManifest(got)
			if err != nil {
				t.Fatalf("%v:\n%s", err, got)
			}
			w, err := parseManifest(want)
			if err != nil {
				t.Fatal(err)
			}
			if len(g) != 1 || len(w) != 1 || !reflect.DeepEqual(g[0].Object, w[0].Object) {
				t.Errorf("got\n%s\nwant the object of\n%s", got, want)
			}
		})
	}
}
