package real_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/doctor"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

// knativeOnly is the platform with Knative Serving and Kourier alone:
// their programs run for real on the bench (Knative's controller, webhook,
// autoscaler, activator, queue-proxy and net-kourier's controller; Envoy
// and the model server are stand-ins, see testcluster.Simulated).
const knativeOnly = `components:
  cert-manager: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  kyverno: {enabled: false}
  backstage: {enabled: false}
  demo: {enabled: false}
`

var (
	ksvcGVR     = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}
	revisionGVR = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "revisions"}
	routeGVR    = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "routes"}
	kingressGVR = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}
)

// The programs whose status writes prove Knative and KServe ran for real:
// the managers the API server records are the binaries' names
// (test/upstream/build.bash).
var realManagers = map[string]bool{"knative-controller": true, "net-kourier-controller": true, kserveManager: true}

// TestKnative installs Knative Serving and Kourier with neuroscale up while
// their real programs play their pods, serves an iris model through a
// Knative Service with Kourier as its ingress class (Ready by the
// conditions real Knative and net-kourier write), sends a prediction
// through a supervised neuroscale forward to the revision pod's real
// queue-proxy and the model stand-in behind it, and then checks that with
// another ingress class a Service never becomes Ready and doctor says why.
func TestKnative(t *testing.T) {
	b := newBench(t)
	forwardPort := porttest.Free(t)
	cfg := b.config("neuroscale.yaml", knativeOnly+fmt.Sprintf(`forwards:
  - {name: iris, namespace: default, service: bench-iris-00001-private, localPort: %d, remotePort: 80, probe: /v1/models/bench-iris}
`, forwardPort))
	b.mustSucceed(b.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json"), "up with the real Knative Serving and net-kourier")

	b.apply(irisService("bench-iris"))
	b.waitKnativeReady("bench-iris")

	t.Run("status written by real Knative and net-kourier", func(t *testing.T) {
		ctx := context.Background()
		rev, err := b.dyn.Resource(revisionGVR).Namespace("default").Get(ctx, "bench-iris-00001", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := condition(rev, "Ready"); c != "True" {
			t.Errorf("revision bench-iris-00001 Ready=%s", c)
		}
		ings, err := b.dyn.Resource(kingressGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ing := range ings.Items {
			if ing.GetName() != "bench-iris" {
				continue
			}
			found = true
			if class := ing.GetAnnotations()["networking.knative.dev/ingress.class"]; class != "kourier.ingress.networking.knative.dev" {
				t.Errorf("KIngress bench-iris has ingress class %q", class)
			}
			for _, cond := range []string{"Ready", "LoadBalancerReady", "NetworkConfigured"} {
				if c := condition(&ing, cond); c != "True" {
					t.Errorf("KIngress bench-iris %s=%s", cond, c)
				}
			}
			b.checkStatusManager(t, &ing, "net-kourier-controller")
		}
		if !found {
			t.Fatal("no KIngress bench-iris: the Route was not programmed")
		}
		for _, gvr := range []schema.GroupVersionResource{ksvcGVR, routeGVR, revisionGVR} {
			name := "bench-iris"
			if gvr == revisionGVR {
				name = "bench-iris-00001"
			}
			u, err := b.dyn.Resource(gvr).Namespace("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b.checkStatusManager(t, u, "knative-controller")
		}
	})

	t.Run("a prediction through neuroscale forward reaches queue-proxy and the model", func(t *testing.T) {
		exited := b.forward(t, cfg, "iris")
		base := fmt.Sprintf("http://127.0.0.1:%d", forwardPort)
		client := &http.Client{Timeout: 10 * time.Second}
		waitFor(t, "the forward answers", 2*time.Minute, func(ctx context.Context) (bool, error) {
			if err := exited(); err != nil {
				return false, err
			}
			resp, err := client.Get(base + "/v1/models/bench-iris")
			if err != nil {
				return false, nil
			}
			_ = resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		body := `{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6], [5.1, 3.5, 1.4, 0.2]]}`
		resp, err := client.Post(base+"/v1/models/bench-iris:predict", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var pred struct{ Predictions []int }
		if resp.StatusCode != http.StatusOK || json.Unmarshal(got, &pred) != nil || fmt.Sprint(pred.Predictions) != "[1 1 0]" {
			t.Fatalf("predict: %s %s, want predictions [1 1 0]", resp.Status, got)
		}
		t.Logf("predict through the forward: %s", strings.TrimSpace(string(got)))
		// queue-proxy answers Knative's network probe itself, echoing the
		// hash: the model server behind it never sees it.
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Header.Set("K-Network-Probe", "probe")
		req.Header.Set("K-Network-Hash", "bench-hash")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("K-Network-Hash") != "bench-hash" {
			t.Fatalf("network probe through the forward: %s, K-Network-Hash %q: not answered by queue-proxy", resp.Status, resp.Header.Get("K-Network-Hash"))
		}
	})

	t.Run("a prediction through Kourier's gateway by the routes net-kourier pushed", func(t *testing.T) {
		// The gateway pod's IP is in the bench's own network namespace;
		// the Host header picks the Knative Service's route.
		pods, err := b.kube.CoreV1().Pods("kourier-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=3scale-kourier-gateway"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("gateway pods: %v (%d)", err, len(pods.Items))
		}
		ksvc, err := b.dyn.Resource(ksvcGVR).Namespace("default").Get(context.Background(), "bench-iris", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		url, _, _ := unstructured.NestedString(ksvc.Object, "status", "url")
		host := strings.TrimPrefix(url, "http://")
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s:8080/v1/models/bench-iris:predict", pods.Items[0].Status.PodIP),
			strings.NewReader(`{"instances": [[6.8, 2.8, 4.8, 1.4]]}`))
		req.Host = host
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(got)) != `{"predictions":[1]}` {
			t.Fatalf("predict through the gateway with Host %s: %s %s", host, resp.Status, got)
		}
		// A host no route was pushed for is not served.
		req, _ = http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:8080/", pods.Items[0].Status.PodIP), nil)
		req.Host = "unknown.default.127.0.0.1.sslip.io"
		resp, err = (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown host through the gateway: %s, want 404", resp.Status)
		}
	})

	t.Run("without Kourier as ingress class the service is not Ready and doctor says why", func(t *testing.T) {
		ctx := context.Background()
		b.setIngressClass(t, "istio.ingress.networking.knative.dev")
		restored := false
		t.Cleanup(func() {
			if !restored {
				b.setIngressClass(t, "kourier.ingress.networking.knative.dev")
			}
		})
		b.apply(irisService("bench-noingress"))
		// The revision becomes Ready (the pods run) but no ingress
		// controller takes the KIngress of another class: the Route stays
		// IngressNotConfigured.
		waitFor(t, "bench-noingress's revision Ready and its route waiting for an ingress", 5*time.Minute, func(ctx context.Context) (bool, error) {
			rev, err := b.dyn.Resource(revisionGVR).Namespace("default").Get(ctx, "bench-noingress-00001", metav1.GetOptions{})
			if err != nil || condition(rev, "Ready") != "True" {
				return false, nil
			}
			rt, err := b.dyn.Resource(routeGVR).Namespace("default").Get(ctx, "bench-noingress", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			return conditionReason(rt, "IngressReady") == "IngressNotConfigured", nil
		})
		ksvc, err := b.dyn.Resource(ksvcGVR).Namespace("default").Get(ctx, "bench-noingress", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := condition(ksvc, "Ready"); c == "True" {
			t.Fatalf("Knative Service bench-noingress is Ready with ingress class istio")
		}
		findings, r := b.doctor(t, cfg)
		found := false
		for _, f := range findings {
			if f.ID == doctor.IDKnativeIngressClass {
				found = true
				t.Logf("doctor: %s: %s (%s)", f.Object, f.Message, f.Evidence)
			}
		}
		if r.code != 1 || !found {
			t.Fatalf("doctor exit %d without finding %s:\n%s", r.code, doctor.IDKnativeIngressClass, r.stdout)
		}
		// Kourier's class back: the same Service becomes Ready, so the class
		// was what held it.
		b.setIngressClass(t, "kourier.ingress.networking.knative.dev")
		restored = true
		b.waitKnativeReady("bench-noingress")
	})
}

// irisService is a Knative Service serving the iris model with KServe's
// sklearn runtime image (its container is the bench's model stand-in),
// kept at one pod.
func irisService(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.knative.dev/v1",
		"kind":       "Service",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{"autoscaling.knative.dev/min-scale": "1"}},
			"spec": map[string]any{"containers": []any{map[string]any{
				"name":  "kserve-container",
				"image": "kserve/sklearnserver:v0.20.0",
				"args":  []any{"--model_name=" + name, "--model_dir=/mnt/models", "--http_port=8080"},
				"ports": []any{map[string]any{"containerPort": int64(8080), "protocol": "TCP"}},
			}}},
		}},
	}}
}

// waitKnativeReady waits for a Knative Service's Ready condition, showing
// its conditions if it does not come.
func (b *bench) waitKnativeReady(name string) {
	b.t.Helper()
	var last *unstructured.Unstructured
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	for ctx.Err() == nil {
		u, err := b.dyn.Resource(ksvcGVR).Namespace("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = u
			if condition(u, "Ready") == "True" {
				b.t.Logf("Knative Service %s Ready after %v", name, time.Since(start).Round(100*time.Millisecond))
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	conds := "(not found)"
	if last != nil {
		c, _, _ := unstructured.NestedSlice(last.Object, "status", "conditions")
		conds = fmt.Sprint(c)
	}
	pods, _ := b.kube.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	var states []string
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Namespace, "knative") || strings.HasPrefix(p.Namespace, "kourier") || p.Namespace == "default" {
			states = append(states, fmt.Sprintf("%s/%s %s ready=%v", p.Namespace, p.Name, p.Status.Phase, podReady(&p)))
		}
	}
	b.t.Fatalf("Knative Service %s not Ready: conditions %s\npods:\n  %s", name, conds, strings.Join(states, "\n  "))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkStatusManager checks that the status of u was last written by a
// real program, the one named.
func (b *bench) checkStatusManager(t *testing.T, u *unstructured.Unstructured, want string) {
	t.Helper()
	managers := statusWriters(u)
	for _, m := range managers {
		if m == want && realManagers[m] {
			return
		}
	}
	t.Errorf("%s %s: status written by %v, want the real %s", u.GetKind(), u.GetName(), managers, want)
}

// setIngressClass sets config-network's ingress-class, as a user editing
// it would.
func (b *bench) setIngressClass(t *testing.T, class string) {
	t.Helper()
	patch := fmt.Sprintf(`{"data":{"ingress-class":%q}}`, class)
	if _, err := b.kube.CoreV1().ConfigMaps("knative-serving").Patch(context.Background(), "config-network", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("set ingress-class %s: %v", class, err)
	}
}

func condition(u *unstructured.Unstructured, typ string) string {
	s, _ := conditionField(u, typ, "status")
	return s
}

func conditionReason(u *unstructured.Unstructured, typ string) string {
	s, _ := conditionField(u, typ, "reason")
	return s
}

func conditionField(u *unstructured.Unstructured, typ, field string) (string, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			s, ok := m[field].(string)
			return s, ok
		}
	}
	return "", false
}
