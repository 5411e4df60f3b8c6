package real_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// second up must change nothing. Last, the seed's failure on the demo
// itself: with Knative's ingress class not Kourier's, the demo that up
// puts back runs but is never Ready (its Route IngressNotConfigured),
// up names why when stopped, doctor names the ingress class, and doctor's
// fix (up --reapply) makes the demo Ready again.
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
		findings, r := b.doctor(t, cfg)
		for _, f := range findings {
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

	// Last: it changes the platform under the demo.
	t.Run("without Kourier as ingress class the demo is not Ready and doctor says why", func(t *testing.T) {
		b.checkDemoWithoutKourier(t, cfg, rendered)
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
	ingresses, err := b.knativeIngresses(ctx, ns, demo.GetName())
	if err != nil {
		t.Fatalf("Knative Ingresses: %v", err)
	}
	for _, ing := range ingresses {
		if got := ing.GetAnnotations()["networking.knative.dev/ingress.class"]; got != class {
			t.Errorf("Knative Ingress %s: ingress class %q, want the rendered %q", ing.GetName(), got, class)
		}
		if st := condition(&ing, "Ready"); st != "True" {
			t.Errorf("Knative Ingress %s: Ready is %q, want True (net-kourier's controller)", ing.GetName(), st)
		}
		b.checkStatusManager(t, &ing, "net-kourier-controller")
	}
	if len(ingresses) == 0 {
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

// otherIngressClass is an ingress class no controller on the platform
// takes: Istio's, as a Knative installed from its own docs would have.
const otherIngressClass = "istio.ingress.networking.knative.dev"

// checkDemoWithoutKourier meets the seed's failure as a user does: Knative
// whose ingress class is not Kourier's, then the demo applied by up (the
// demo is deleted first, under Kourier, and put back by up). The
// demo's pods run (its revision is Ready) but no ingress controller takes
// the Knative Ingress of another class, so its Route stays
// IngressNotConfigured, the InferenceService never becomes Ready and up
// waits on it; doctor names the ingress class; up, interrupted, names the
// demo and what it waits for; doctor's fix (up --reapply) puts Kourier's
// class back and the demo is Ready again.
func (b *bench) checkDemoWithoutKourier(t *testing.T, cfg string, rendered map[string][]*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	demo := renderedObject(t, rendered, "demo", "InferenceService", "")
	ns, name := demo.GetNamespace(), demo.GetName()
	if ns == "" {
		ns = "default"
	}
	predictor := name + "-predictor"

	// First the demo goes, with everything KServe and Knative made for
	// it, while Kourier is still the class: Knative re-labels the Ingress
	// of a live Route when the class changes, and net-kourier then never
	// removes its finalizer from the old one.
	fg := metav1.DeletePropagationForeground
	if err := b.dyn.Resource(isvcGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatalf("delete the demo InferenceService: %v", err)
	}
	waitFor(t, "the demo and what KServe and Knative made for it gone", 3*time.Minute, func(ctx context.Context) (bool, error) {
		for _, g := range []struct {
			gvr  schema.GroupVersionResource
			name string
		}{{isvcGVR, name}, {ksvcGVR, predictor}, {routeGVR, predictor}} {
			if _, err := b.dyn.Resource(g.gvr).Namespace(ns).Get(ctx, g.name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		if ings, err := b.knativeIngresses(ctx, ns, name); err != nil || len(ings) > 0 {
			return false, nil
		}
		pods, err := b.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "serving.kserve.io/inferenceservice=" + name})
		return err == nil && len(pods.Items) == 0, nil
	})
	// Then Knative without Kourier as its class, and up puts the demo
	// back: it re-applies a component whose objects are gone.
	b.setIngressClass(t, otherIngressClass)
	restored := false
	t.Cleanup(func() {
		if !restored {
			b.setIngressClass(t, content.KourierIngressClass)
		}
	})
	up := b.startBackground(t, cfg, "up", "--no-forward", "--no-verify", "-o", "json")
	started := time.Now()
	var isvc, route *unstructured.Unstructured
	// Settled: the revision is Ready (its pods run) and the Route has
	// assigned its traffic, but its Ingress is not configured, and KServe
	// says so in the demo's Ready condition. (IngressNotConfigured is also
	// what a Route says for its first moments under Kourier; the class of
	// its Knative Ingress, below, and Kourier's class putting it right, at
	// the end, are what tie it to the class.)
	waitFor(t, "the demo's revision Ready, its Route waiting for an ingress and the demo not Ready for it", 5*time.Minute, func(ctx context.Context) (bool, error) {
		if err := up.exited(); err != nil {
			return false, fmt.Errorf("while the demo cannot become Ready: %w", err)
		}
		ksvc, err := b.dyn.Resource(ksvcGVR).Namespace(ns).Get(ctx, predictor, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		revName, _, _ := unstructured.NestedString(ksvc.Object, "status", "latestCreatedRevisionName")
		if revName == "" {
			return false, nil
		}
		rev, err := b.dyn.Resource(revisionGVR).Namespace(ns).Get(ctx, revName, metav1.GetOptions{})
		if err != nil || condition(rev, "Ready") != "True" {
			return false, nil
		}
		if route, err = b.dyn.Resource(routeGVR).Namespace(ns).Get(ctx, predictor, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		if condition(route, "AllTrafficAssigned") != "True" || conditionReason(route, "IngressReady") != "IngressNotConfigured" {
			return false, nil
		}
		if isvc, err = b.dyn.Resource(isvcGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, nil
		}
		return conditionReason(isvc, "Ready") == "IngressNotConfigured", nil
	})
	logConditions(t, route)
	logConditions(t, isvc)
	if st := condition(isvc, "Ready"); st == "True" {
		t.Fatalf("InferenceService %s is Ready with ingress class %s", name, otherIngressClass)
	}
	ings, err := b.knativeIngresses(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ing := range ings {
		if class := ing.GetAnnotations()["networking.knative.dev/ingress.class"]; class != otherIngressClass {
			t.Errorf("Knative Ingress %s: class %q, want %q", ing.GetName(), class, otherIngressClass)
		}
		if w := statusWriters(&ing); len(w) != 0 {
			t.Errorf("Knative Ingress %s of class %s has a status written by %v: some controller took it", ing.GetName(), otherIngressClass, w)
		}
	}
	if len(ings) == 0 {
		t.Errorf("no Knative Ingress for %s: its Route was not reconciled", name)
	}

	// doctor, while up still waits, says why.
	findings, r := b.doctor(t, cfg)
	named := map[string]bool{}
	for _, f := range findings {
		switch {
		case f.ID == doctor.IDKnativeIngressClass,
			f.ID == doctor.IDInferenceServiceNotRdy && strings.Contains(f.Object, name):
			named[f.ID] = true
			t.Logf("doctor: %s %s: %s (evidence: %s; fix: %s)", f.ID, f.Object, f.Message, f.Evidence, f.Fix)
		}
	}
	if r.code != 1 || !named[doctor.IDKnativeIngressClass] || !named[doctor.IDInferenceServiceNotRdy] {
		t.Errorf("doctor exit %d, want 1 with findings %s and %s for %s:\n%s", r.code, doctor.IDKnativeIngressClass, doctor.IDInferenceServiceNotRdy, name, r.stdout)
	}

	// The user, seeing up wait, stops it: it names what it waited for.
	up.interrupt()
	t.Logf("up interrupted after %v, exit %d:\n%s", time.Since(started).Round(100*time.Millisecond), up.cmd.ProcessState.ExitCode(), tail(up.errb.String(), 2000))
	if up.cmd.ProcessState.ExitCode() == 0 {
		t.Errorf("up succeeded with ingress class %s", otherIngressClass)
	}
	if msg := up.errb.String(); !strings.Contains(msg, name) || !strings.Contains(msg, "IngressNotConfigured") || !strings.Contains(msg, "ingress class") {
		t.Errorf("interrupted up does not say that %s waits for an ingress, nor hint at the ingress class:\n%s", name, tail(msg, 3000))
	}

	// doctor's fix: up --reapply puts Kourier's class back (a plain up
	// only checks the unchanged knative-serving), and finishes the demo,
	// which is Ready again: the class was what held it.
	r = b.run(cfg, "up", "--reapply", "--no-forward", "--no-verify", "-o", "json")
	if r.code != 0 {
		t.Fatalf("up --reapply: exit %d\nstderr:\n%s\nstdout:\n%s", r.code, tail(r.stderr, 6000), tail(r.stdout, 3000))
	}
	t.Logf("up --reapply took %v", r.took.Round(100*time.Millisecond))
	cm, err := b.kube.CoreV1().ConfigMaps("knative-serving").Get(ctx, "config-network", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["ingress-class"]; got != content.KourierIngressClass {
		t.Fatalf("after up --reapply config-network's ingress-class is %q, want %q", got, content.KourierIngressClass)
	}
	restored = true
	b.checkDemoByKServe(t, rendered)
}

// knativeIngresses returns the Knative Ingresses in ns of the
// InferenceService name (Knative names them after its routes, which KServe
// names after it).
func (b *bench) knativeIngresses(ctx context.Context, ns, name string) ([]unstructured.Unstructured, error) {
	list, err := b.dyn.Resource(kingressGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(ing unstructured.Unstructured) bool { return !strings.HasPrefix(ing.GetName(), name) }), nil
}

// logConditions logs an object's status conditions.
func logConditions(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var lines []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		lines = append(lines, strings.TrimSpace(fmt.Sprintf("%v=%v %v %v", m["type"], m["status"], m["reason"], m["message"])))
	}
	t.Logf("%s %s conditions:\n  %s", u.GetKind(), u.GetName(), strings.Join(lines, "\n  "))
}
