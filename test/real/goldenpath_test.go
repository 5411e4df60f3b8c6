package real_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/doctor"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

var isvcGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// kserveManager is the field manager of KServe's controller manager as the
// bench builds it (controller-runtime names it after the binary,
// test/upstream/build.bash): the writer of InferenceService status when
// KServe runs for real, where the simulator would otherwise write it.
const kserveManager = "kserve-manager"

// TestGoldenPath runs the whole dev platform through neuroscale up on a
// bench of its own where the platform's controllers and admission
// webhooks run for real (cert-manager, Kyverno, KServe, Knative Serving,
// net-kourier; testcluster.Simulated lists the rest), with nothing in the
// configuration made for the bench: up must converge, status must say
// every component is Ready, demo-iris-2 must be Ready by KServe's own
// status (through the Knative Service KServe creates from the rendered
// configuration), KServe's webhooks must admit the demo and the Backstage
// Template's InferenceService and refuse an invalid one, the platform must
// refuse an unlabelled InferenceService and a root container, and a
// second up must change nothing.
func TestGoldenPath(t *testing.T) {
	if testing.Short() {
		t.Skip("testcluster: integration test skipped in -short mode")
	}
	if why := testcluster.CanRunReal("controllers"); why != "" {
		t.Skip("testcluster: " + why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	started := time.Now()
	c, err := testcluster.Start(ctx, testcluster.WithReal("controllers"))
	cancel()
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the bench: %v", err)
		}
	})
	t.Logf("bench with real controllers ready in %v", time.Since(started).Round(100*time.Millisecond))
	b := newBenchOn(t, c)
	rendered := b.render()
	cfg := b.config("neuroscale.yaml", "")

	r := b.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
	b.mustSucceed(r, "cold up of the dev platform with real controllers and webhooks")

	t.Run("status: every component Ready", func(t *testing.T) {
		r := b.run(cfg, "status", "-o", "json")
		if r.code != 0 {
			t.Fatalf("status: exit %d\n%s\n%s", r.code, r.stderr, r.stdout)
		}
		var st struct {
			Components []struct{ Name, Status, Message string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, r.stdout)
		}
		if len(st.Components) == 0 {
			t.Fatalf("status lists no component:\n%s", r.stdout)
		}
		for _, comp := range st.Components {
			if comp.Status != "Ready" {
				t.Errorf("status: %s is %s (%s), want Ready", comp.Name, comp.Status, comp.Message)
			}
		}
	})

	t.Run("doctor finds nothing wrong with the real controllers' doing", func(t *testing.T) {
		// The webhooks' CA bundles that cainjector and Knative write, the
		// webhooks Kyverno registers, the Services Knative makes: none of
		// it is drift or a fault. The forwards are absent (up ran with
		// --no-forward) and are not what this looks at.
		r := b.run(cfg, "doctor", "-o", "json")
		var rep struct{ Findings []doctor.Finding }
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("doctor -o json (exit %d): %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
		}
		for _, f := range rep.Findings {
			if f.ID == doctor.IDForwardAbsent {
				continue
			}
			t.Errorf("doctor: %s %s: %s (%s)", f.ID, f.Object, f.Message, f.Evidence)
		}
		if r.code == 3 {
			t.Errorf("doctor could not check (exit 3):\n%s", r.stderr)
		}
	})

	t.Run("demo-iris-2 is Ready by KServe, through Knative", func(t *testing.T) {
		b.checkDemoByKServe(t, rendered)
	})

	t.Run("a prediction through neuroscale forward reaches the model", func(t *testing.T) {
		b.checkDemoPredicts(t)
	})

	t.Run("KServe's webhooks", func(t *testing.T) {
		b.checkKServeWebhooks(t, rendered)
	})

	t.Run("the platform refuses an unlabelled InferenceService and a root container", func(t *testing.T) {
		for _, f := range []string{"unlabelled-inferenceservice.yaml", "root-deployment.yaml"} {
			obj := decodeFile(t, filepath.Join("testdata", f))
			if err := b.admitted(obj); err == nil {
				t.Errorf("%s was admitted", f)
			} else {
				t.Logf("%s refused: %v", f, err)
			}
		}
	})

	t.Run("a no-op re-run stays a no-op", func(t *testing.T) {
		b.checkNoOp(t, cfg)
	})
}

// checkDemoByKServe checks that the demo InferenceService is Ready with
// the conditions KServe's controller wrote (the status field manager is
// KServe's, not the simulator's), and that KServe made it from a Knative
// Service that carries the rendered configuration and whose Route and
// Revision Knative made Ready through Kourier.
func (b *bench) checkDemoByKServe(t *testing.T, rendered map[string][]*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	demo := renderedObject(t, rendered, "demo", "InferenceService", "")
	ns := demo.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	isvc, err := b.dyn.Resource(isvcGVR).Namespace(ns).Get(ctx, demo.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the demo InferenceService: %v", err)
	}
	for _, typ := range []string{"PredictorReady", "IngressReady", "Ready"} {
		if st := condition(isvc, typ); st != "True" {
			t.Errorf("InferenceService %s: condition %s is %q, want True", isvc.GetName(), typ, st)
		}
	}
	if mode, _, _ := unstructured.NestedString(isvc.Object, "status", "deploymentMode"); mode != "Knative" {
		t.Errorf("InferenceService %s: status.deploymentMode %q, want Knative (serverless)", isvc.GetName(), mode)
	}
	writers := statusWriters(isvc)
	if len(writers) != 1 || writers[0] != kserveManager {
		t.Errorf("InferenceService %s: status written by %v, want only KServe's controller (%s)", isvc.GetName(), writers, kserveManager)
	}
	url, _, _ := unstructured.NestedString(isvc.Object, "status", "url")
	t.Logf("InferenceService %s Ready by %v, url %s", isvc.GetName(), writers, url)

	// The Knative Service KServe created for the predictor, owned by the
	// InferenceService, Ready by Knative's controller.
	ksvc, err := b.dyn.Resource(ksvcGVR).Namespace(ns).Get(ctx, demo.GetName()+"-predictor", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Knative Service KServe creates for the predictor: %v", err)
	}
	owned := false
	for _, ref := range ksvc.GetOwnerReferences() {
		owned = owned || (ref.Kind == "InferenceService" && ref.Name == isvc.GetName() && ref.UID == isvc.GetUID())
	}
	if !owned {
		t.Errorf("Knative Service %s is not owned by InferenceService %s: %v", ksvc.GetName(), isvc.GetName(), ksvc.GetOwnerReferences())
	}
	for _, typ := range []string{"ConfigurationsReady", "RoutesReady", "Ready"} {
		if st := condition(ksvc, typ); st != "True" {
			t.Errorf("Knative Service %s: condition %s is %q, want True", ksvc.GetName(), typ, st)
		}
	}
	b.checkStatusManager(t, ksvc, "knative-controller")
	// The rendered configuration reaches what the controllers made: the
	// ingress class in Knative's config-network is Kourier's, and Knative's
	// Ingress for the route carries it; the ISVC's URL is in the
	// rendered domain.
	network := renderedObject(t, rendered, "knative-serving", "ConfigMap", "config-network")
	class, _, _ := unstructured.NestedString(network.Object, "data", "ingress-class")
	if !strings.Contains(class, "kourier") {
		t.Errorf("rendered config-network ingress-class %q, want Kourier's", class)
	}
	ingresses, err := b.dyn.Resource(kingressGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("Knative Ingresses: %v", err)
	}
	found := false
	for _, ing := range ingresses.Items {
		if !strings.HasPrefix(ing.GetName(), demo.GetName()) {
			continue
		}
		found = true
		if got := ing.GetAnnotations()["networking.knative.dev/ingress.class"]; got != class {
			t.Errorf("Knative Ingress %s: ingress class %q, want the rendered %q", ing.GetName(), got, class)
		}
		if st := condition(&ing, "Ready"); st != "True" {
			t.Errorf("Knative Ingress %s: Ready is %q, want True (net-kourier's controller)", ing.GetName(), st)
		}
		b.checkStatusManager(t, &ing, "net-kourier-controller")
	}
	if !found {
		t.Errorf("no Knative Ingress for %s", demo.GetName())
	}
	domain := renderedObject(t, rendered, "knative-serving", "ConfigMap", "config-domain")
	for d := range domain.Object["data"].(map[string]any) {
		if d != "_example" && !strings.Contains(url, d) {
			t.Errorf("InferenceService URL %q is not in the rendered domain %q", url, d)
		}
	}

	// The predictor's pods went through KServe's pod mutator: it adds the
	// storage initializer that fetches the model from storageUri.
	pods, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.kserve.io/inferenceservice=" + demo.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no predictor pod of %s", demo.GetName())
	}
	for _, p := range pods.Items {
		if !hasInitContainer(p, "storage-initializer") {
			t.Errorf("predictor pod %s has no storage-initializer: KServe's pod mutator did not see it", p.Name)
		}
	}
}

// checkKServeWebhooks puts InferenceServices through the API server's
// admission (server-side dry runs): the demo and the Backstage Template's
// are admitted, with KServe's defaulter having annotated them, and
// one whose name KServe's validator refuses is denied by KServe.
func (b *bench) checkKServeWebhooks(t *testing.T, rendered map[string][]*unstructured.Unstructured) {
	t.Helper()
	demo := renderedObject(t, rendered, "demo", "InferenceService", "")
	for _, c := range corpus(t, b, rendered) {
		if c.obj.GetKind() != "InferenceService" || !c.admit {
			continue
		}
		obj := c.obj.DeepCopy()
		obj.SetName(obj.GetName() + "-dry") // up created the demo itself
		out, err := b.dryRunCreate(obj)
		if err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
			continue
		}
		// KServe's defaulter records the model format as an annotation.
		format, _, _ := unstructured.NestedString(out.Object, "spec", "predictor", "model", "modelFormat", "name")
		if got := out.GetAnnotations()["modelFormat"]; format == "" || got != format {
			t.Errorf("%s: annotation modelFormat %q, want %q: KServe's defaulting webhook did not run", c.name, got, format)
		}
		t.Logf("%s: admitted", c.name)
	}
	bad := demo.DeepCopy()
	// A DNS subdomain the API server accepts, but not the DNS-1035 label
	// KServe's validator requires of an InferenceService name.
	bad.SetName("demo.iris")
	err := b.admitted(bad)
	if err == nil {
		t.Fatal("an InferenceService named demo.iris was admitted: KServe's validating webhook did not refuse it")
	}
	if !strings.Contains(err.Error(), "kserve") {
		t.Errorf("the refusal of demo.iris is not KServe's: %v", err)
	}
	t.Logf("invalid InferenceService refused: %v", err)
}

// checkDemoPredicts opens the platform's own demo forward with neuroscale
// forward (the configuration's forward, on a free local port instead of
// its fixed one) and asks the demo model for a prediction, itself and
// through verify: through the revision pod's real queue-proxy to the model
// stand-in.
func (b *bench) checkDemoPredicts(t *testing.T) {
	t.Helper()
	port := porttest.Free(t)
	cfg := b.config("forward.yaml", fmt.Sprintf("forwards:\n  - {name: demo, namespace: %s, service: %s-predictor, localPort: %d, remotePort: 80}\n",
		content.DemoNamespace, content.DemoName, port))
	exited := b.forward(t, cfg, "demo")
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/models/%s:predict", port, content.DemoName)
	client := &http.Client{Timeout: 10 * time.Second}
	var got []byte
	waitFor(t, "a prediction through the demo forward", 2*time.Minute, func(ctx context.Context) (bool, error) {
		if err := exited(); err != nil {
			return false, err
		}
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}`))
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		got, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, nil
	})
	var pred struct{ Predictions []int }
	if err := json.Unmarshal(got, &pred); err != nil || fmt.Sprint(pred.Predictions) != "[1 1]" {
		t.Fatalf("predict: %s, want predictions [1 1]", got)
	}
	t.Logf("predict through neuroscale forward: %s", strings.TrimSpace(string(got)))

	// verify's own predict check, through the running forward. Its other
	// checks ask Backstage, which this bench does not run (it may say so
	// with a failure); only the prediction is judged here.
	r := b.run(cfg, "verify", "-o", "json")
	var rep verify.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify -o json (exit %d): %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	found := false
	for _, res := range rep.Results {
		if res.ID == verify.CheckPredict {
			found = true
			if res.Status != verify.Pass {
				t.Errorf("verify's predict check: %s: %s", res.Status, res.Evidence)
			}
			t.Logf("verify %s: %s: %s", res.ID, res.Status, res.Evidence)
		}
	}
	if !found {
		t.Errorf("verify ran no predict check:\n%s", r.stdout)
	}
}

// dryRunCreate returns obj as admission leaves it (a server-side dry
// run), or the refusal.
func (b *bench) dryRunCreate(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	b.t.Helper()
	m := b.mapping(obj)
	return b.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()).Create(context.Background(), obj.DeepCopy(),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// checkNoOp runs up again, checks that every stage ends unchanged (or
// skipped) and returns how each ended.
func (b *bench) checkNoOp(t *testing.T, cfg string) map[string]string {
	t.Helper()
	r := b.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
	b.mustSucceed(r, "no-op up")
	final := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		var e struct{ Stage, State string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Stage != "" && e.State != "running" {
			final[e.Stage] = e.State
		}
	}
	if len(final) == 0 {
		t.Fatalf("no-op re-run reported no stage:\n%s", r.stdout)
	}
	for stage, state := range final {
		if state != "unchanged" && state != "skipped" {
			t.Errorf("no-op re-run: stage %s ended %s, want unchanged", stage, state)
		}
	}
	return final
}

// renderedObject finds one object of a rendered component by kind and,
// if name is not empty, name.
func renderedObject(t *testing.T, rendered map[string][]*unstructured.Unstructured, comp, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range rendered[comp] {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	t.Fatalf("rendered component %s has no %s %q", comp, kind, name)
	return nil
}

// statusWriters lists the field managers of obj's status subresource.
func statusWriters(obj *unstructured.Unstructured) []string {
	var out []string
	for _, f := range obj.GetManagedFields() {
		if f.Subresource == "status" {
			out = append(out, f.Manager)
		}
	}
	return out
}

func hasInitContainer(p corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
