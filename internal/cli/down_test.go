package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/state"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func TestKeptSaysHowToRemove(t *testing.T) {
	t.Parallel()
	var none bytes.Buffer
	kept{}.write(&none)
	if none.Len() != 0 {
		t.Errorf("nothing kept, yet: %q", none.String())
	}
	var b bytes.Buffer
	kept{namespaces: []string{"backstage"}, crds: 7, crdGroups: []string{"a.io", "b.io", "c.io", "d.io", "e.io"}}.write(&b)
	want := `Kept, as they may hold data or other users' resources:
  namespace backstage: kubectl delete namespace backstage
  7 CRDs (a.io, b.io, c.io, d.io, ...):
    kubectl delete crd -l neuroscale.dev/component
Or run neuroscale down --purge next time to remove them with the platform.
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestFindKept looks at a real API server for what down left: the
// recorded namespaces that still exist and the CRDs neuroscale labelled.
func TestFindKept(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := context.Background()
	ax, err := apiextensionsclient.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.kept.example.com", Labels: map[string]string{state.LabelComponent: "demo"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kept.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Kind: "Widget"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}},
		},
	}
	if _, err := ax.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ax.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
	k, err := findKept(ctx, c.RESTConfig(), []string{"never-existed", ns})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.namespaces, ",") != ns || k.crds < 1 || !slices.Contains(k.crdGroups, "kept.example.com") {
		t.Errorf("kept %+v, want namespace %s and the labelled CRD", k, ns)
	}
}
