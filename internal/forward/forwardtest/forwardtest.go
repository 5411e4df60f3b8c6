// Package forwardtest puts test servers behind Services of the test
// cluster: a Deployment and a Service whose pods' port-forwards reach a
// listener of the test (kwok's ClusterPortForward), so the supervisor,
// verify and doctor are tested through real tunnels.
package forwardtest

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// Workload describes a Deployment with a Service in front of it.
type Workload struct {
	Namespace string
	Name      string
	// ServicePort is the Service's port; ContainerPort the pods' port,
	// named "backend" and used as a named targetPort, like the Backstage
	// chart does.
	ServicePort   int32
	ContainerPort int32
	Replicas      int32
	// Target is the host:port the pods' forwards reach; empty for none.
	Target string
	// Labels are extra pod labels.
	Labels map[string]string
}

// Create creates the workload's forward rule (first, so kwok knows it
// when the first tunnel opens), Deployment and Service, and waits until
// the Service has as many ready endpoints as replicas. They are deleted
// when t ends.
func Create(t testing.TB, c *testcluster.Cluster, w Workload) {
	t.Helper()
	cs := c.Client(t)
	if w.Target != "" {
		c.ForwardPods(t, w.Namespace, nil, int(w.ContainerPort), w.Target)
	}
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(w.Namespace).Create(ctx, Deployment(w), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", w.Name, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": w.Name},
			Ports:    []corev1.ServicePort{{Name: "http-backend", Port: w.ServicePort, TargetPort: intstr.FromString("backend")}},
		},
	}
	if _, err := cs.CoreV1().Services(w.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s: %v", w.Name, err)
	}
	// Tests in their own namespace lose these with it; tests that use
	// fixed names in a shared namespace need them gone for the next run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.AppsV1().Deployments(w.Namespace).Delete(ctx, w.Name, metav1.DeleteOptions{})
		_ = cs.CoreV1().Services(w.Namespace).Delete(ctx, w.Name, metav1.DeleteOptions{})
	})
	WaitReadyEndpoints(t, cs, w.Namespace, w.Name, int(w.Replicas))
}

// Deployment is the workload's Deployment.
func Deployment(w Workload) *appsv1.Deployment {
	labels := map[string]string{"app": w.Name}
	for k, v := range w.Labels {
		labels[k] = v
	}
	replicas := w.Replicas
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/app:1",
					Ports: []corev1.ContainerPort{{Name: "backend", ContainerPort: w.ContainerPort}},
				}}},
			},
		},
	}
}

// WaitReadyEndpoints waits until Service ns/name has n ready endpoints.
func WaitReadyEndpoints(t testing.TB, cs kubernetes.Interface, ns, name string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return ReadyEndpoints(ctx, cs, ns, name) == n, nil
	})
	if err != nil {
		t.Fatalf("service %s/%s: no %d ready endpoints: %v", ns, name, n, err)
	}
}

// ReadyEndpoints counts the ready pod endpoints of Service ns/name.
func ReadyEndpoints(ctx context.Context, cs kubernetes.Interface, ns, name string) int {
	slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
			}
		}
	}
	return n
}
