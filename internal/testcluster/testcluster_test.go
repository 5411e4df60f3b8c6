package testcluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// slowLabel marks pods the shared cluster holds back, to test delays.
const slowLabel = "testcluster.neuroscale.dev/slow"

func TestMain(m *testing.M) {
	os.Exit(testcluster.Main(m, testcluster.WithPodReadyDelay(slowLabel+"=true", 3*time.Second)))
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
}

func deployment(name string, replicas int32, podLabels map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	for k, v := range podLabels {
		labels[k] = v
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/app:1",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func deploymentAvailable(cs kubernetes.Interface, ns, name string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return d.Status.ReadyReplicas == *d.Spec.Replicas, nil
			}
		}
		return false, nil
	}
}

func TestDeploymentAvailableWithReadyEndpoints(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 2, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deployment Available", 30*time.Second, deploymentAvailable(cs, ns, "web"))
	waitFor(t, "EndpointSlice with 2 ready endpoints", 30*time.Second, func(ctx context.Context) (bool, error) {
		slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == 2, nil
	})
}

func TestPodReadyDelay(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	ctx := context.Background()
	start := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("slow", 1, map[string]string{slowLabel: "true"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow deployment Available", 30*time.Second, deploymentAvailable(cs, ns, "slow"))
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("pod with %s=true Ready after %v, want the configured 3s delay", slowLabel, took)
	}
}

// applyCRD creates a CRD (removed when t ends) and waits until it is
// Established.
func applyCRD(t *testing.T, dyn dynamic.Interface, group, version, kind, plural string, statusSubresource bool) {
	t.Helper()
	ver := map[string]any{
		"name": version, "served": true, "storage": true,
		"schema": map[string]any{"openAPIV3Schema": map[string]any{
			"type": "object", "x-kubernetes-preserve-unknown-fields": true,
		}},
	}
	if statusSubresource {
		ver["subresources"] = map[string]any{"status": map[string]any{}}
	}
	name := plural + "." + group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group":    group,
			"scope":    "Namespaced",
			"names":    map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{ver},
		},
	}}
	ctx := context.Background()
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Resource(crdGVR).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	waitFor(t, "CRD "+name+" Established", 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return conditionTrue(got, "Established"), nil
	})
}

func conditionTrue(obj *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

func dynamicClient(t *testing.T, c *testcluster.Cluster) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func TestCRDEstablished(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	applyCRD(t, dynamicClient(t, c), "selftest.neuroscale.dev", "v1", "Widget", "widgets", true)
}

func TestInferenceServiceBecomesReady(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	dyn := dynamicClient(t, c)
	applyCRD(t, dyn, "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", true)
	ns := c.Namespace(t)
	gvr := schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"metadata":   map[string]any{"name": "demo"},
		"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
			"modelFormat": map[string]any{"name": "sklearn"}, "storageUri": "gs://example/model",
		}}},
	}}
	// The CRD is served a moment after Established; retry the create.
	waitFor(t, "InferenceService created", 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, isvc, metav1.CreateOptions{})
		return err == nil, nil
	})
	waitFor(t, "InferenceService Ready", 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		url, _, _ := unstructured.NestedString(got.Object, "status", "url")
		return conditionTrue(got, "Ready") && conditionTrue(got, "PredictorReady") &&
			url == "http://demo-"+ns+".127.0.0.1.sslip.io", nil
	})
}

func TestApplicationBecomesSyncedAndHealthy(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	dyn := dynamicClient(t, c)
	// ArgoCD's CRD has no status subresource: sim must write the object.
	applyCRD(t, dyn, "argoproj.io", "v1alpha1", "Application", "applications", false)
	ns := c.Namespace(t)
	gvr := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": "demo"},
		"spec":       map[string]any{"project": "default", "source": map[string]any{"repoURL": "https://example.invalid/repo.git", "path": "."}},
	}}
	waitFor(t, "Application created", 30*time.Second, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, app, metav1.CreateOptions{})
		return err == nil, nil
	})
	waitFor(t, "Application Synced and Healthy", 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		sync, _, _ := unstructured.NestedString(got.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(got.Object, "status", "health", "status")
		return sync == "Synced" && health == "Healthy", nil
	})
}

func TestLoadBalancerGetsIngress(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "gateway"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "gateway"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "load balancer ingress 127.0.0.1", 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Services(ns).Get(ctx, "gateway", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ing := got.Status.LoadBalancer.Ingress
		return len(ing) == 1 && ing[0].IP == "127.0.0.1", nil
	})
}

func TestClaimOfDefaultClassIsBound(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			// No class: the default one must be used, as on k3d.
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "claim Bound", 60*time.Second, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.Phase == corev1.ClaimBound, nil
	})
}

func TestPortForwardReachesLocalServer(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the test's own server")
	}))
	t.Cleanup(srv.Close)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "model", Labels: map[string]string{"app": "model"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "server", Image: "example.invalid/model:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod Running", 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, "model", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning, err
	})
	c.ForwardPods(t, ns, []string{"model"}, 8080, srv.Listener.Addr().String())

	cfg := c.RESTConfig()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("model").SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready after 30s")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local)
	client := &http.Client{Timeout: 5 * time.Second}
	// kwok picks the forward rule up from a watch: retry briefly.
	waitFor(t, "answer through the port-forward", 30*time.Second, func(ctx context.Context) (bool, error) {
		resp, err := client.Get(local)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body) == "hello from the test's own server", nil
	})
}

// webhookConfig intercepts ConfigMap creates in namespace ns and sends them
// to a Service without endpoints, as a chart's webhook whose pod never runs.
func webhookConfig(ns string) *admissionregistrationv1.ValidatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	path := "/validate"
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "reject-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "nowhere.selftest.neuroscale.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "nowhere", Path: &path},
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

func registerWebhook(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nowhere"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "nowhere"},
			Ports:    []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := webhookConfig(ns)
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
}

func TestWebhooksOffAreNotCalled(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	registerWebhook(t, cs, ns)
	// Give the API server time to load the configuration; it must still
	// not call the webhook.
	time.Sleep(time.Second)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap("allowed"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with webhooks off: %v", err)
	}
}

// TestWebhooksOnAndStop starts a cluster of its own with webhooks on,
// checks that an intercepted create fails with the API server's own
// error, then stops it and checks that none of its processes remains.
func TestWebhooksOnAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if reason := testcluster.CanBuild(); reason != "" {
		t.Skip(reason)
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	defer cancel()
	start := time.Now()
	c, err := testcluster.Start(ctx, testcluster.WithWebhooks(true), testcluster.WithSimulation(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second cluster started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = c.Stop() })

	// Not c.Namespace: its cleanup would run after the explicit Stop below.
	cs := c.Client(t)
	ns := "webhooks-on"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	registerWebhook(t, cs, ns)
	var lastErr error
	waitFor(t, "intercepted create rejected", 30*time.Second, func(ctx context.Context) (bool, error) {
		_, lastErr = cs.CoreV1().ConfigMaps(ns).Create(ctx, configMap(fmt.Sprintf("cm-%d", time.Now().UnixNano())), metav1.CreateOptions{})
		return lastErr != nil, nil
	})
	if !strings.Contains(lastErr.Error(), "failed calling webhook") {
		t.Fatalf("create failed with %v, want the API server's \"failed calling webhook\"", lastErr)
	}

	pids, err := c.Pids()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "supervisor"} {
		if pids[name] == 0 {
			t.Errorf("no pid recorded for %s", name)
		}
	}
	start = time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
	for name, pid := range pids {
		if running(pid) {
			t.Errorf("%s (pid %d) still runs after stop", name, pid)
		}
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// running reports whether pid is a live process (a zombie has exited).
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] != 'Z'
	}
	return true
}
