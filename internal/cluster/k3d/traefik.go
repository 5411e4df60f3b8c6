package k3d

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// traefikObject is one object k3s creates when Traefik is left on.
type traefikObject struct {
	gvr       schema.GroupVersionResource
	kind      string
	namespace string
	name      string
}

func (o traefikObject) String() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// traefikObjects are what k3s's bundled Traefik leaves in a cluster: the
// HelmCharts its deploy controller installs from, and what they create.
func traefikObjects() []traefikObject {
	helm := schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}
	return []traefikObject{
		{helm, "HelmChart", "kube-system", "traefik"},
		{helm, "HelmChart", "kube-system", "traefik-crd"},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "Deployment", "kube-system", "traefik"},
		{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "Service", "kube-system", "traefik"},
		{schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingressclasses"}, "IngressClass", "", "traefik"},
	}
}

// CheckNoTraefik returns a *TraefikError naming every Traefik object in
// the cluster at rc, nil when there is none. `up`, `status` and `doctor`
// call it: Traefik behind k3s's servicelb takes ports 80/443 from Kourier
// and answers inference calls with a 307 redirect.
func CheckNoTraefik(ctx context.Context, rc *rest.Config) error {
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("traefik check: %w", err)
	}
	return checkNoTraefik(ctx, dyn)
}

func checkNoTraefik(ctx context.Context, dyn dynamic.Interface) error {
	var found []string
	var errs []error
	for _, o := range traefikObjects() {
		var ri dynamic.ResourceInterface = dyn.Resource(o.gvr)
		if o.namespace != "" {
			ri = dyn.Resource(o.gvr).Namespace(o.namespace)
		}
		_, err := ri.Get(ctx, o.name, metav1.GetOptions{})
		switch {
		case err == nil:
			found = append(found, o.String())
		case apierrors.IsNotFound(err):
			// Absent, or the HelmChart API itself is absent (not k3s).
		default:
			errs = append(errs, fmt.Errorf("get %s: %w", o, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("traefik check: %w", errors.Join(errs...))
	}
	if len(found) > 0 {
		return &TraefikError{Found: found}
	}
	return nil
}

// TraefikError says Traefik is installed in the cluster.
type TraefikError struct {
	// Found names each object, e.g. "Deployment kube-system/traefik".
	Found []string
}

// Error names every Traefik object found.
func (e *TraefikError) Error() string {
	return "Traefik is installed and competes with Kourier for ports 80/443: found " + strings.Join(e.Found, ", ")
}

// Hint says how to get rid of it.
func (e *TraefikError) Hint() string {
	return "a k3d cluster: `neuroscale up --recreate` (neuroscale creates it with " + DisableTraefik + "); another k3s cluster: start its servers with " + DisableTraefik + " (k3s then removes the objects)"
}
