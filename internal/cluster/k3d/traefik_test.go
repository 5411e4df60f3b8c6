package k3d

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func obj(apiVersion, kind, ns, name string) runtime.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestCheckNoTraefik(t *testing.T) {
	lists := map[schema.GroupVersionResource]string{}
	for _, o := range traefikObjects() {
		lists[o.gvr] = o.kind + "List"
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		want    []string
	}{
		{name: "clean cluster", objects: []runtime.Object{
			obj("apps/v1", "Deployment", "kourier-system", "3scale-kourier-gateway"),
			obj("v1", "Service", "kube-system", "kube-dns"),
		}},
		{name: "same name elsewhere is not k3s's traefik", objects: []runtime.Object{
			obj("apps/v1", "Deployment", "default", "traefik"),
		}},
		{name: "k3s default install", objects: []runtime.Object{
			obj("helm.cattle.io/v1", "HelmChart", "kube-system", "traefik"),
			obj("helm.cattle.io/v1", "HelmChart", "kube-system", "traefik-crd"),
			obj("apps/v1", "Deployment", "kube-system", "traefik"),
			obj("v1", "Service", "kube-system", "traefik"),
			obj("networking.k8s.io/v1", "IngressClass", "", "traefik"),
		}, want: []string{"HelmChart kube-system/traefik", "HelmChart kube-system/traefik-crd", "Deployment kube-system/traefik", "Service kube-system/traefik", "IngressClass traefik"}},
		{name: "only the ingress class left", objects: []runtime.Object{
			obj("networking.k8s.io/v1", "IngressClass", "", "traefik"),
		}, want: []string{"IngressClass traefik"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, tt.objects...)
			err := checkNoTraefik(context.Background(), dyn)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want none", err)
				}
				return
			}
			var te *TraefikError
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a TraefikError", err)
			}
			if strings.Join(te.Found, "|") != strings.Join(tt.want, "|") {
				t.Errorf("found %q, want %q", te.Found, tt.want)
			}
			if !strings.Contains(te.Hint(), "--recreate") {
				t.Errorf("hint %q does not say how to get rid of it", te.Hint())
			}
		})
	}
}

// TestCheckNoTraefikRealAPI runs the check against a real API server, which
// is not k3s: the HelmChart API does not exist there, and that must read as
// "no Traefik", not as an error.
func TestCheckNoTraefikRealAPI(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	if err := CheckNoTraefik(ctx, c.RESTConfig()); err != nil {
		t.Fatalf("clean cluster: %v", err)
	}
	cs := c.Client(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: "kube-system"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
	}
	if _, err := cs.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Services("kube-system").Delete(context.Background(), "traefik", metav1.DeleteOptions{})
	})
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "traefik"}, Spec: networkingv1.IngressClassSpec{Controller: "traefik.io/ingress-controller"}}
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.NetworkingV1().IngressClasses().Delete(context.Background(), "traefik", metav1.DeleteOptions{})
	})

	err := CheckNoTraefik(ctx, c.RESTConfig())
	var te *TraefikError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want a TraefikError", err)
	}
	if got := strings.Join(te.Found, "|"); got != "Service kube-system/traefik|IngressClass traefik" {
		t.Errorf("found %q", got)
	}
}
