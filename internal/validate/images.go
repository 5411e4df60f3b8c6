package validate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// RuleImageUnserved flags images from registries that no longer serve them.
const RuleImageUnserved = "NS-IMAGE-UNSERVED"

// unservedImages are image name prefixes whose registries stopped serving
// them, with where the same image lives now. The seed platform lost its
// KServe webhook to the first (403 on pull, so no endpoints).
var unservedImages = []struct{ prefix, instead string }{
	{"gcr.io/kubebuilder/kube-rbac-proxy", "quay.io/brancz/kube-rbac-proxy (or drop the sidecar)"},
	{"docker.io/bitnami/", "docker.io/bitnamilegacy/ (same name and tag)"},
	{"bitnami/", "bitnamilegacy/ (same name and tag)"},
	{"k8s.gcr.io/", "registry.k8s.io/ (same name and tag)"},
}

// images reports containers whose image cannot be pulled any more: the
// pod would sit in ImagePullBackOff and the install wait forever.
func (c *check) images() {
	if c.p == nil {
		return
	}
	for _, comp := range c.p.Components {
		for _, s := range comp.Steps {
			// Objects include the hooks.
			for _, o := range s.Objects {
				path, ok := prepull.PodSpecPath(o.GetKind())
				if !ok {
					continue
				}
				for _, list := range []string{"initContainers", "containers"} {
					ctrs, _, _ := unstructured.NestedSlice(o.Object, append(path, list)...)
					for _, x := range ctrs {
						img := str(dig(x, "image"))
						for _, u := range unservedImages {
							if !strings.HasPrefix(img, u.prefix) {
								continue
							}
							f := Finding{ID: RuleImageUnserved, Severity: Error, Object: objectName(o),
								Message: fmt.Sprintf("container %s uses %s, which its registry no longer serves: the pod would stay in ImagePullBackOff", str(dig(x, "name")), img),
								Fix:     "use " + u.instead + " through the component's values"}
							if s.Kind == render.StepChart {
								f.Position = c.valuesPos(comp.Name)
							}
							c.add(f)
							break
						}
					}
				}
			}
		}
	}
}
