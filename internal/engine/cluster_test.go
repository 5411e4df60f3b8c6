package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// slowLabel marks pods the test cluster keeps Pending for a while, so a
// test can interrupt a stage that is waiting for them.
const slowLabel = "neuroscale-test/slow"

func TestMain(m *testing.M) {
	os.Exit(testcluster.Main(m, testcluster.WithPodReadyDelay(slowLabel+"=true", 4*time.Second)))
}

// newEngine returns an engine on the shared cluster whose records live in
// a namespace of the test's own, so tests do not see each other's.
func newEngine(t *testing.T, c *testcluster.Cluster, opts Options) *Engine {
	t.Helper()
	if opts.StateNamespace == "" {
		opts.StateNamespace = c.Namespace(t)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	opts.MaxPoll = 500 * time.Millisecond
	e, err := New(c.RESTConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Prepare(context.Background(), "dev"); err != nil {
		t.Fatal(err)
	}
	return e
}

type testWriter struct{ t *testing.T }

// cancelOn is a log writer that calls cancel when a line says msg.
type cancelOn struct {
	testWriter
	msg    string
	cancel func()
}

func (w cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.msg) {
		w.cancel()
	}
	return w.testWriter.Write(p)
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatalf("bad test object: %v\n%s", err, y)
	}
	return &unstructured.Unstructured{Object: m}
}

// component builds a render.Component with a digest over its steps, as
// render does, so a change of objects or values changes the digest.
func component(t *testing.T, name, ns string, needs []string, steps ...*render.Step) *render.Component {
	t.Helper()
	h := sha256.New()
	for _, s := range steps {
		b, err := json.Marshal(struct {
			Objects []*unstructured.Unstructured
			Values  map[string]any
		}{s.Objects, s.Values})
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return &render.Component{Name: name, Namespace: ns, Version: "1.0.0", Needs: needs, Steps: steps, Digest: hex.EncodeToString(h.Sum(nil))}
}

func deployment(t *testing.T, ns, name string, slow bool, extra string) *unstructured.Unstructured {
	t.Helper()
	labels := "app: " + name
	if slow {
		labels += "\n        " + slowLabel + `: "true"`
	}
	return obj(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata:
      labels:
        %s
    spec:
      containers:
      - name: main
        image: registry.example/%s:1.0
        env: [{name: EXTRA, value: %q}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
`, name, ns, name, labels, name, extra))
}

func service(t *testing.T, ns, name, app string) *unstructured.Unstructured {
	t.Helper()
	return obj(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  selector: {app: %s}
  ports: [{port: 443, targetPort: 8443}]
`, name, ns, app))
}

// manifestStep is a step with a namespace, a ConfigMap, a CRD and a
// custom resource of it (the CRD must be Established before the CR can
// be applied: the staged apply has to get this right), and a workload.
func manifestStep(t *testing.T, ns, crdGroup, value string, slow bool) *render.Step {
	t.Helper()
	return &render.Step{Kind: render.StepManifest, Name: "manifests", Namespace: ns, Objects: []*unstructured.Unstructured{
		obj(t, fmt.Sprintf(`{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, ns)),
		obj(t, fmt.Sprintf(`{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: %s}, data: {value: %q}}`, ns, value)),
		obj(t, fmt.Sprintf(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%s}
spec:
  group: %s
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, crdGroup, crdGroup)),
		obj(t, fmt.Sprintf(`{apiVersion: %s/v1, kind: Widget, metadata: {name: w, namespace: %s}, spec: {size: 3}}`, crdGroup, ns)),
		deployment(t, ns, "app", slow, value),
		service(t, ns, "app", "app"),
	}}
}

// tinyChart is a chart made in memory: a ConfigMap and a Deployment whose
// env comes from the values.
func tinyChart() *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "tiny", Version: "0.1.0"},
		Values:   map[string]any{"greeting": "hello"},
		Templates: []*chart.File{
			{Name: "templates/cm.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
data:
  greeting: {{ .Values.greeting | quote }}
`)},
			{Name: "templates/deploy.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: main
        image: registry.example/tiny:1.0
        env: [{name: GREETING, value: {{ .Values.greeting | quote }}}]
`)},
		},
	}
}

func chartStep(ns, release string, values map[string]any) *render.Step {
	return &render.Step{Kind: render.StepChart, Name: release, Namespace: ns, Chart: tinyChart(), ChartVersion: "0.1.0", Values: values}
}

// resourceVersions returns the resourceVersion of every recorded object
// of comp and of its record.
func resourceVersions(t *testing.T, e *Engine, comp string) map[string]string {
	t.Helper()
	ctx := context.Background()
	rec, err := e.store.Get(ctx, comp)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rec.Objects() {
		m, ok, err := e.mapping(r.GVK())
		if err != nil || !ok {
			t.Fatalf("map %s: %v", r, err)
		}
		u, err := e.dyn.Resource(m.Resource).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", r, err)
		}
		out[r.String()] = u.GetResourceVersion()
	}
	cm, err := e.kube.CoreV1().ConfigMaps(e.store.Namespace()).Get(ctx, "neuroscale-component-"+comp, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out["record"] = cm.ResourceVersion
	return out
}

func uniq(t *testing.T, prefix string) string {
	t.Helper()
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// tempNamespace is a namespace name of the test's own (uniq), deleted
// when the test ends.
func tempNamespace(t *testing.T, e *Engine, prefix string) string {
	t.Helper()
	ns := uniq(t, prefix)
	t.Cleanup(func() { _ = e.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return ns
}

func TestConvergeManifestsThenNoOp(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "manifests")
	group := ns + ".test.neuroscale.dev"

	comp := component(t, "widgets", ns, nil, manifestStep(t, ns, group, "one", false))
	if err := e.Converge(ctx, comp, Spec{}); err != nil {
		t.Fatalf("first converge: %v", err)
	}
	rec, err := e.store.Get(ctx, "widgets")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != state.Applied || rec.Digest != comp.Digest || len(rec.Objects()) != 6 {
		t.Fatalf("record %+v: want Applied, digest %s, 6 objects", rec, comp.Digest)
	}
	cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[state.LabelComponent] != "widgets" {
		t.Fatalf("applied object lacks the component label: %v", cm.Labels)
	}
	if !managedBy(cm.ManagedFields, FieldManager) {
		t.Fatalf("ConfigMap not applied with field manager %s: %+v", FieldManager, cm.ManagedFields)
	}

	before := resourceVersions(t, e, "widgets")
	e2 := newEngine(t, c, Options{StateNamespace: e.store.Namespace()})
	start := time.Now()
	err = e2.Converge(ctx, comp, Spec{})
	var nc *dag.NoChange
	if !errors.As(err, &nc) {
		t.Fatalf("second converge: %v, want NoChange", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("no-op converge took %s", d)
	}
	after := resourceVersions(t, e2, "widgets")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: resourceVersion %s -> %s on a no-op run", k, v, after[k])
		}
	}

	// A changed value re-applies: the ConfigMap and the Deployment change,
	// the record is rewritten, the CRD is left alone.
	changed := component(t, "widgets", ns, nil, manifestStep(t, ns, group, "two", false))
	if err := e2.Converge(ctx, changed, Spec{}); err != nil {
		t.Fatalf("converge changed: %v", err)
	}
	again := resourceVersions(t, e2, "widgets")
	for _, k := range []string{"ConfigMap/" + ns + "/settings", "Deployment.apps/" + ns + "/app", "record"} {
		if again[k] == after[k] {
			t.Errorf("%s: not re-applied after a change", k)
		}
	}
	if k := "CustomResourceDefinition.apiextensions.k8s.io/widgets." + group; again[k] != after[k] {
		t.Errorf("%s: rewritten although unchanged", k)
	}
}

func managedBy(mf []metav1.ManagedFieldsEntry, manager string) bool {
	for _, m := range mf {
		if m.Manager == manager && m.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func TestConvergeChartInstallUpgradeNoOp(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "chart")

	v1 := component(t, "tiny", ns, nil, chartStep(ns, "tiny", map[string]any{"greeting": "hi"}))
	if err := e.Converge(ctx, v1, Spec{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	assertRelease(t, e, ns, "tiny", 1, "deployed")
	var nc *dag.NoChange
	if err := e.Converge(ctx, v1, Spec{}); !errors.As(err, &nc) {
		t.Fatalf("unchanged: %v, want NoChange", err)
	}
	assertRelease(t, e, ns, "tiny", 1, "deployed")

	v2 := component(t, "tiny", ns, nil, chartStep(ns, "tiny", map[string]any{"greeting": "bonjour"}))
	if err := e.Converge(ctx, v2, Spec{}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	assertRelease(t, e, ns, "tiny", 2, "deployed")
	cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(ctx, "tiny-cm", metav1.GetOptions{})
	if err != nil || cm.Data["greeting"] != "bonjour" {
		t.Fatalf("upgrade did not apply the values: %v %v", cm.Data, err)
	}
	rec, _ := e.store.Get(ctx, "tiny")
	if rec.Steps[0].Revision != 2 || len(rec.Steps[0].Objects) != 2 {
		t.Fatalf("record step %+v: want revision 2 and the release's 2 objects", rec.Steps[0])
	}
}

func assertRelease(t *testing.T, e *Engine, ns, name string, rev int, status string) {
	t.Helper()
	gotRev, gotStatus, err := e.releaseHealth(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if gotRev != rev || gotStatus != status {
		t.Fatalf("release %s: revision %d %s, want %d %s", name, gotRev, gotStatus, rev, status)
	}
}

// TestPendingReleaseRecovered plays a process killed in the middle of a
// Helm operation: the release's newest revision stays pending, which plain
// Helm answers with "another operation (install/upgrade/rollback) is in
// progress" forever.
func TestPendingReleaseRecovered(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	tests := []struct {
		name string
		// leave turns the installed release into what a killed run left.
		leave func(t *testing.T, rel *release.Release) *release.Release
		want  int
	}{
		{
			name: "pending-upgrade over a deployed revision is rolled back, then upgraded",
			leave: func(t *testing.T, rel *release.Release) *release.Release {
				next := *rel
				info := *rel.Info
				next.Info, next.Version = &info, rel.Version+1
				next.Info.Status = release.StatusPendingUpgrade
				return &next
			},
			// 1 install, 2 pending (left), 3 rollback to 1, 4 upgrade.
			want: 4,
		},
		{
			name: "pending-install with nothing deployed is uninstalled, then installed",
			leave: func(t *testing.T, rel *release.Release) *release.Release {
				rel.Info.Status = release.StatusPendingInstall
				return rel
			},
			want: 1,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tempNamespace(t, e, fmt.Sprintf("pending%d", i))
			name := fmt.Sprintf("tiny%d", i)
			if err := e.Converge(ctx, component(t, name, ns, nil, chartStep(ns, "tiny", map[string]any{"greeting": "a"})), Spec{}); err != nil {
				t.Fatal(err)
			}
			cfg, err := e.helmConfig(ns)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := lastRelease(cfg, "tiny")
			if err != nil {
				t.Fatal(err)
			}
			left := tt.leave(t, rel)
			if left.Version == rel.Version {
				err = cfg.Releases.Update(left)
			} else {
				err = cfg.Releases.Create(left)
			}
			if err != nil {
				t.Fatal(err)
			}
			err = e.Converge(ctx, component(t, name, ns, nil, chartStep(ns, "tiny", map[string]any{"greeting": "b"})), Spec{})
			if err != nil {
				t.Fatalf("converge over a pending release: %v", err)
			}
			assertRelease(t, e, ns, "tiny", tt.want, "deployed")
		})
	}
}

// TestWebhookWithoutEndpoints registers a webhook whose Service selects no
// pod: the stage that registered it fails naming the Service, what needs
// it is skipped, and an independent stage still finishes.
func TestWebhookWithoutEndpoints(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ns := uniq(t, "hook")
	t.Cleanup(func() {
		ctx := context.Background()
		_ = e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, ns, metav1.DeleteOptions{})
		_ = e.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	hookStep := &render.Step{Kind: render.StepManifest, Name: "webhook", Namespace: ns, Objects: []*unstructured.Unstructured{
		obj(t, fmt.Sprintf(`{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, ns)),
		service(t, ns, "guard-webhook", "nothing-runs-this"),
		obj(t, fmt.Sprintf(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: %s}
webhooks:
- name: guard.%s.test.neuroscale.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  clientConfig: {service: {name: guard-webhook, namespace: %s, path: /validate}}
  namespaceSelector: {matchLabels: {guarded-by: %s}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
`, ns, ns, ns, ns)),
	}}
	other := uniq(t, "independent")
	t.Cleanup(func() { _ = e.kube.CoreV1().Namespaces().Delete(context.Background(), other, metav1.DeleteOptions{}) })
	guard := component(t, "guard", ns, nil, hookStep)
	user := component(t, "user", ns, []string{"guard"}, &render.Step{Kind: render.StepManifest, Name: "cm", Namespace: ns,
		Objects: []*unstructured.Unstructured{obj(t, fmt.Sprintf(`{apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: %s}}`, ns))}})
	indep := component(t, "independent", other, nil, manifestStep(t, other, other+".test.neuroscale.dev", "x", false))
	budget := 3 * time.Second
	graph := []dag.Stage{
		dag.FuncStage{StageName: "guard", Fn: func(ctx context.Context) error { return e.Converge(ctx, guard, Spec{Timeout: budget}) }},
		dag.FuncStage{StageName: "user", StageNeeds: []string{"guard"}, Fn: func(ctx context.Context) error { return e.Converge(ctx, user, Spec{}) }},
		dag.FuncStage{StageName: "independent", Fn: func(ctx context.Context) error { return e.Converge(ctx, indep, Spec{}) }},
	}
	rep, err := dag.Run(context.Background(), graph, dag.RunOptions{})
	want := fmt.Sprintf("service guard-webhook in namespace %s has no ready endpoints", ns)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v\nwant it to say %q", err, want)
	}
	var we *WebhookError
	if !errors.As(err, &we) || we.Service != "guard-webhook" || !strings.Contains(we.Hint(), "endpointslices") {
		t.Fatalf("error is not a WebhookError naming the service with a hint: %#v", we)
	}
	for name, st := range map[string]progress.State{"guard": progress.StateFailed, "user": progress.StateSkipped, "independent": progress.StateReady} {
		if got := rep.Stage(name).State; got != st {
			t.Errorf("stage %s: %s, want %s", name, got, st)
		}
	}
	if !strings.Contains(err.Error(), "user: skipped because guard failed") {
		t.Errorf("error does not report the skipped dependent: %v", err)
	}
}

// TestInterruptedThenConverges cancels a stage while it waits for a slow
// pod: the record stays Applying, and the next run re-applies and
// converges instead of trusting the digest.
func TestInterruptedThenConverges(t *testing.T) {
	c := testcluster.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the step is applied and its wait for readiness begins
	// (the engine logs it): the Deployment existing is not enough, the
	// apply may still be writing the rest.
	waiting := slog.New(slog.NewTextHandler(cancelOn{testWriter{t}, "applied; waiting for readiness", cancel}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, c, Options{Log: waiting})
	ns := tempNamespace(t, e, "cancel")
	comp := component(t, "slow", ns, nil, manifestStep(t, ns, ns+".test.neuroscale.dev", "v", true))

	rep, err := dag.Run(ctx, []dag.Stage{dag.FuncStage{StageName: "slow", Fn: func(ctx context.Context) error { return e.Converge(ctx, comp, Spec{}) }}}, dag.RunOptions{})
	cancel()
	var ie *dag.InterruptedError
	if !errors.As(err, &ie) || rep.Stage("slow").State != progress.StateCancelled {
		t.Fatalf("interrupted run: %v (state %s), want an InterruptedError", err, rep.Stage("slow").State)
	}
	// It says what the stage was still waiting for, not "interrupted"
	// alone, with the look closer as hint.
	var we *WaitTimeoutError
	if len(ie.Doing) != 1 || !errors.As(ie.Doing[0], &we) || !errors.Is(we, context.Canceled) || !strings.Contains(err.Error(), "Deployment.apps/"+ns+"/app is InProgress") ||
		!strings.Contains(ie.Hint(), "kubectl -n "+ns+" describe deployment.apps app") {
		t.Errorf("interrupted run: %v (hint %q), want it to name Deployment %s/app still not ready and how to look at it", err, ie.Hint(), ns)
	}
	rec, err := e.store.Get(context.Background(), "slow")
	if err != nil || rec.Phase != state.Applying {
		t.Fatalf("record after interruption: %+v %v, want phase Applying", rec, err)
	}

	e2 := newEngine(t, c, Options{StateNamespace: e.store.Namespace()})
	if err := e2.Converge(context.Background(), comp, Spec{}); err != nil {
		t.Fatalf("converge after interruption: %v", err)
	}
	rec, _ = e2.store.Get(context.Background(), "slow")
	if rec.Phase != state.Applied {
		t.Fatalf("record phase %s, want Applied", rec.Phase)
	}
}

// TestDependentsRechecked changes one component: it is re-applied, its
// dependent is re-checked but not re-applied (its digest is the same),
// and an independent component is untouched.
func TestDependentsRechecked(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	base := uniq(t, "dep")
	comps := map[string]func(v string) *render.Component{}
	for _, n := range []string{"a", "b", "c"} {
		ns := base + "-" + n
		t.Cleanup(func() { _ = e.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		var needs []string
		if n == "b" {
			needs = []string{"a"}
		}
		comps[n] = func(v string) *render.Component {
			return component(t, n, ns, needs, manifestStep(t, ns, ns+".test.neuroscale.dev", v, false))
		}
	}
	graph := func(e *Engine, values map[string]string) []dag.Stage {
		var out []dag.Stage
		for _, n := range []string{"a", "b", "c"} {
			comp := comps[n](values[n])
			out = append(out, dag.FuncStage{StageName: n, StageNeeds: comp.Needs, Fn: func(ctx context.Context) error { return e.Converge(ctx, comp, Spec{}) }})
		}
		return out
	}
	values := map[string]string{"a": "1", "b": "1", "c": "1"}
	if _, err := dag.Run(context.Background(), graph(e, values), dag.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		before[n] = resourceVersions(t, e, n)
	}
	values["a"] = "2"
	e2 := newEngine(t, c, Options{StateNamespace: e.store.Namespace()})
	rep, err := dag.Run(context.Background(), graph(e2, values), dag.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]progress.State{"a": progress.StateReady, "b": progress.StateUnchanged, "c": progress.StateUnchanged}
	for n, st := range want {
		if got := rep.Stage(n).State; got != st {
			t.Errorf("stage %s: %s, want %s", n, got, st)
		}
	}
	if rep.Stage("b").Start.Before(rep.Stage("a").Start.Add(rep.Stage("a").Duration)) {
		t.Errorf("b was re-checked before a finished")
	}
	for _, n := range []string{"b", "c"} {
		after := resourceVersions(t, e2, n)
		for k, v := range before[n] {
			if after[k] != v {
				t.Errorf("%s: %s changed (%s -> %s) though only a changed", n, k, v, after[k])
			}
		}
	}
	if resourceVersions(t, e2, "a")["record"] == before["a"]["record"] {
		t.Errorf("a was not re-applied")
	}
}

// TestRemove uninstalls a component with a chart and manifests: no
// release, no object with its label, the CRD kept; then purge removes the
// CRD too.
func TestRemove(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	for _, purge := range []bool{false, true} {
		t.Run(fmt.Sprintf("purge=%v", purge), func(t *testing.T) {
			ns := uniq(t, "remove")
			group := ns + ".test.neuroscale.dev"
			name := fmt.Sprintf("removable-%v", purge)
			comp := component(t, name, ns, nil, manifestStep(t, ns, group, "v", false), chartStep(ns, "tiny", nil))
			if err := e.Converge(ctx, comp, Spec{}); err != nil {
				t.Fatal(err)
			}
			if err := e.Remove(ctx, name, RemoveOptions{Purge: purge}); err != nil {
				t.Fatalf("remove: %v", err)
			}
			if rev, _, _ := e.releaseHealth(ctx, ns, "tiny"); rev != 0 {
				t.Errorf("release tiny still has revision %d", rev)
			}
			for _, kind := range []string{"configmaps", "services", "deployments"} {
				assertNoLabelled(t, e, kind, name)
			}
			_, err := e.apiext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets."+group, metav1.GetOptions{})
			if purge && !apierrors.IsNotFound(err) {
				t.Errorf("purge left the CRD: %v", err)
			}
			if !purge && err != nil {
				t.Errorf("down without purge removed the CRD: %v", err)
			}
			if !purge {
				_ = e.apiext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets."+group, metav1.DeleteOptions{})
			}
			if _, err := e.store.Get(ctx, name); !errors.Is(err, state.ErrNoRecord) {
				t.Errorf("record still there: %v", err)
			}
			if _, err := e.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
				t.Errorf("namespace %s without data still there", ns)
			}
		})
	}
}

func assertNoLabelled(t *testing.T, e *Engine, resource, comp string) {
	t.Helper()
	sel := state.LabelComponent + "=" + comp
	var n int
	switch resource {
	case "configmaps":
		l, err := e.kube.CoreV1().ConfigMaps("").List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		n = len(l.Items)
	case "services":
		l, err := e.kube.CoreV1().Services("").List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		n = len(l.Items)
	case "deployments":
		l, err := e.kube.AppsV1().Deployments("").List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		n = len(l.Items)
	}
	if n != 0 {
		t.Errorf("%d %s labelled %s remain", n, resource, sel)
	}
}

func TestStatusHealth(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "status")
	comp := component(t, "shown", ns, nil, manifestStep(t, ns, ns+".test.neuroscale.dev", "v", false))
	if err := e.Converge(ctx, comp, Spec{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.Status(ctx, []string{"shown", "never"}, nil, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if st.Components[0].Status != HealthReady || st.Components[0].Version != "1.0.0" || st.Components[1].Status != HealthAbsent {
		t.Fatalf("status %+v: want shown Ready 1.0.0, never Absent", st.Components)
	}
	if err := e.kube.AppsV1().Deployments(ns).Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = e.Status(ctx, []string{"shown"}, nil, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if st.Components[0].Status != HealthFailed || !strings.Contains(st.Components[0].Message, "Deployment.apps/"+ns+"/app is missing") {
		t.Fatalf("after deleting the Deployment: %+v, want Failed naming it", st.Components[0])
	}
	// The next converge sees the object missing and re-applies.
	if err := e.Converge(ctx, comp, Spec{}); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if _, err := e.kube.AppsV1().Deployments(ns).Get(ctx, "app", metav1.GetOptions{}); err != nil {
		t.Fatalf("not repaired: %v", err)
	}
}

// TestQuotaCountedBeforeReady: a quota is Ready only once
// kube-controller-manager has counted its limits, so a custom resource it
// counts, whose CRD went in moments before (the controller discovers new
// kinds every 30 s and counts a quota only when it is created), is not
// refused with "status unknown for quota" after up; a limit on a resource
// nothing serves is not waited for.
func TestQuotaCountedBeforeReady(t *testing.T) {
	c := testcluster.Get(t)
	e := newEngine(t, c, Options{})
	ctx := context.Background()
	ns := tempNamespace(t, e, "quota")
	group := ns + ".test.neuroscale.dev"
	step := manifestStep(t, ns, group, "one", false)
	// Without its Widget: a refused apply would re-create the quota by
	// itself (refreshStaleQuotas); here nothing of the step is counted.
	step.Objects = slices.DeleteFunc(step.Objects, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Widget" })
	step.Objects = append(step.Objects, obj(t, fmt.Sprintf(`
apiVersion: v1
kind: ResourceQuota
metadata: {name: quota, namespace: %s}
spec:
  hard: {count/widgets.%s: "5", count/configmaps: "10", count/gadgets.unserved.%s: "1"}
`, ns, group, group)))
	if err := e.Converge(ctx, component(t, "quota", ns, nil, step), Spec{}); err != nil {
		t.Fatalf("converge: %v", err)
	}
	q, err := e.kube.CoreV1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Status.Used[corev1.ResourceName("count/widgets."+group)]; !ok {
		t.Errorf("converge ended with the quota not counting widgets: %+v", q.Status)
	}
	widget := obj(t, fmt.Sprintf(`{apiVersion: %s/v1, kind: Widget, metadata: {name: w2, namespace: %s}}`, group, ns))
	m, _, err := e.mapping(widget.GroupVersionKind())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(m.Resource).Namespace(ns).Create(ctx, widget, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("a Widget after converge: %v", err)
	}
}
