package engine

import (
	"bytes"
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
