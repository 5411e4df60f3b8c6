package stages_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/neuroscale-dev/neuroscale/internal/state"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// slowSelector delays ArgoCD's server pods, so that a test can interrupt
// `up` while the argocd stage waits for them.
const slowSelector = "app.kubernetes.io/name=argocd-server"

func TestMain(m *testing.M) {
	os.Exit(testcluster.Main(m, testcluster.WithPodReadyDelay(slowSelector, 3*time.Second)))
}

// platform drives the neuroscale binary against the shared test cluster
// with the upstream fixtures through a file:// mirror.
type platform struct {
	t      *testing.T
	bin    string
	dir    string
	c      *testcluster.Cluster
	rest   *rest.Config
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	meta   metadata.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	disc   discovery.CachedDiscoveryInterface
}

// result is one neuroscale run.
type result struct {
	code     int
	stdout   string
	stderr   string
	took     time.Duration
	maxRSSKB int64
	events   []event
	summary  upSummary
}

type event struct {
	Stage    string  `json:"stage"`
	State    string  `json:"state"`
	Duration float64 `json:"duration_s"`
	Message  string  `json:"message"`
}

type upSummary struct {
	Profile string `json:"profile"`
	Stages  []struct {
		Name    string   `json:"name"`
		Needs   []string `json:"needs"`
		State   string   `json:"state"`
		Seconds float64  `json:"duration_s"`
	} `json:"stages"`
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	c := testcluster.Get(t)
	dir := t.TempDir()
	bin := testcluster.BuildNeuroscale(t, dir)
	cfg := c.RESTConfig()
	dc := memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg))
	return &platform{
		t: t, bin: bin, dir: dir, c: c, rest: cfg,
		kube: c.Client(t), dyn: dynamic.NewForConfigOrDie(cfg), meta: metadata.NewForConfigOrDie(cfg),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(dc), disc: dc,
	}
}

// config writes neuroscale.yaml (dev profile) with extra YAML appended
// under the root.
func (p *platform) config(extra string) string {
	p.t.Helper()
	return p.c.WriteConfig(p.t, filepath.Join(p.dir, "neuroscale.yaml"), "dev", extra)
}

// start runs neuroscale in the background; wait collects it.
func (p *platform) start(cfg string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, time.Time) {
	p.t.Helper()
	cmd := exec.Command(p.bin, append(args, "-c", cfg)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "NO_COLOR=1"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	started := time.Now()
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	return cmd, &out, &errb, started
}

func (p *platform) wait(cmd *exec.Cmd, out, errb *bytes.Buffer, started time.Time) result {
	p.t.Helper()
	_ = cmd.Wait()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String(), took: time.Since(started)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSSKB = ru.Maxrss
	}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(`"stages"`)) {
			_ = json.Unmarshal(line, &r.summary)
			continue
		}
		var e event
		if json.Unmarshal(line, &e) == nil && e.Stage != "" {
			r.events = append(r.events, e)
		}
	}
	return r
}

func (p *platform) run(cfg string, args ...string) result {
	p.t.Helper()
	return p.wait(p.start(cfg, args...))
}

// finalStates maps each stage to its last reported state.
func (r result) finalStates() map[string]string {
	out := map[string]string{}
	for _, e := range r.events {
		if e.State != "running" {
			out[e.Stage] = e.State
		}
	}
	return out
}

func (p *platform) mustSucceed(r result, what string) {
	p.t.Helper()
	if r.code != 0 {
		p.t.Fatalf("%s: exit %d\nstderr:\n%s\nstdout:\n%s", what, r.code, r.stderr, tail(r.stdout, 4000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

var components = []string{"cert-manager", "knative-serving", "kourier", "kserve", "argocd", "kyverno", "backstage", "demo"}

// records reads neuroscale's records from the cluster.
func (p *platform) records() map[string]*state.Record {
	p.t.Helper()
	recs, err := state.NewStore(p.kube, "").Load(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return recs
}

// snapshot returns the resourceVersion of every object neuroscale
// recorded, and of the records themselves, by object.
func (p *platform) snapshot() map[string]string {
	p.t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for comp, rec := range p.records() {
		for _, r := range rec.Objects() {
			m, err := p.mapper.RESTMapping(r.GVK().GroupKind(), r.Version)
			if err != nil {
				p.mapper.Reset()
				if m, err = p.mapper.RESTMapping(r.GVK().GroupKind(), r.Version); err != nil {
					p.t.Fatalf("map %s: %v", r, err)
				}
			}
			u, err := p.meta.Resource(m.Resource).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
			if err != nil {
				p.t.Fatalf("%s: get %s: %v", comp, r, err)
			}
			out[comp+" "+r.String()] = fingerprint(u)
		}
	}
	cms, err := p.kube.CoreV1().ConfigMaps(state.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, cm := range cms.Items {
		out["record "+cm.Name] = cm.ResourceVersion
	}
	return out
}

// fingerprint is what changes when anything but a controller's status
// write changes the object: its generation, labels and annotations and
// every field manager's entry other than a status one (manager,
// operation, time, fields), since the HPA controller, say, writes the
// status of an unchanged HorizontalPodAutoscaler (which has no
// generation) whenever its metrics do.
func fingerprint(u *metav1.PartialObjectMetadata) string {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d labels %v annotations %v", u.Generation, u.Labels, u.Annotations)
	for _, m := range u.ManagedFields {
		if m.Subresource == "status" {
			continue
		}
		var at string
		if m.Time != nil {
			at = m.Time.UTC().Format(time.RFC3339)
		}
		var fields string
		if m.FieldsV1 != nil {
			fields = string(m.FieldsV1.Raw)
		}
		fmt.Fprintf(&b, " [%s %s %s %s]", m.Manager, m.Operation, at, fields)
	}
	return b.String()
}

// changed lists the keys whose value differs, grouped by component.
func changed(before, after map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range before {
		if after[k] != v {
			comp, _, _ := strings.Cut(k, " ")
			out[comp] = append(out[comp], fmt.Sprintf("%s (%.300s -> %.300s)", k, v, after[k]))
		}
	}
	return out
}

// TestPlatform installs the whole platform from the fixtures with the
// neuroscale binary, then re-runs, changes, breaks, interrupts and kills
// it, and removes it, checking the cluster after each step. The steps
// build on each other, so they are one test.
func TestPlatform(t *testing.T) {
	p := newPlatform(t)
	cfg := p.config("")

	// Cold up: every component installed and Ready.
	cold := p.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
	p.mustSucceed(cold, "cold up")
	for _, c := range components {
		if st := cold.finalStates()[c]; st != "ready" {
			t.Errorf("cold up: %s is %q, want ready", c, st)
		}
	}
	t.Logf("MEASURE cold up: %s wall, peak RSS %d MiB", cold.took.Round(100*time.Millisecond), cold.maxRSSKB/1024)
	logStages(t, cold)

	// status agrees.
	st := p.run(cfg, "status", "-o", "json")
	p.mustSucceed(st, "status")
	var status struct {
		Profile    string `json:"profile"`
		Components []struct {
			Name, Version, Status, LastApplied, Message string
			Endpoints                                   []struct{ Name, URL string }
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, st.stdout)
	}
	if status.Profile != "dev" || len(status.Components) != len(components) {
		t.Fatalf("status: %+v", status)
	}
	endpoints := map[string]string{}
	for _, c := range status.Components {
		// The demo is neuroscale's own manifest and has no upstream version.
		if c.Status != "Ready" || (c.Version == "" && c.Name != "demo") || c.LastApplied == "" {
			t.Errorf("status of %s: %+v, want Ready with version and time", c.Name, c)
		}
		for _, e := range c.Endpoints {
			endpoints[e.Name] = c.Name
		}
		if c.Name == "backstage" && c.Version != "2.8.2" {
			t.Errorf("backstage version %q, want 2.8.2", c.Version)
		}
	}
	if endpoints["backstage"] != "backstage" || endpoints["argocd"] != "argocd" || endpoints["demo"] != "demo" {
		t.Errorf("endpoints not attributed to their components: %v", endpoints)
	}

	// A second up changes nothing. How fast it is, is the bench's to
	// report (scripts/bench), not a test's to assert: on a loaded machine
	// any limit is a coin toss.
	before := p.snapshot()
	noop := p.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
	p.mustSucceed(noop, "no-op up")
	for _, c := range components {
		if s := noop.finalStates()[c]; s != "unchanged" {
			t.Errorf("no-op up: %s is %q, want unchanged", c, s)
		}
	}
	if ch := changed(before, p.snapshot()); len(ch) > 0 {
		t.Errorf("no-op up changed objects: %v", ch)
	}
	t.Logf("MEASURE no-op up: %s wall, peak RSS %d MiB", noop.took.Round(10*time.Millisecond), noop.maxRSSKB/1024)

	t.Run("values change re-applies only the component, dependents re-checked", func(t *testing.T) {
		cfg := p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n")
		before := p.snapshot()
		r := p.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
		p.mustSucceed(r, "up after a values change")
		want := map[string]string{"cert-manager": "ready", "kserve": "unchanged", "kyverno": "unchanged", "demo": "unchanged",
			"knative-serving": "unchanged", "kourier": "unchanged", "argocd": "unchanged", "backstage": "unchanged"}
		got := r.finalStates()
		for c, s := range want {
			if got[c] != s {
				t.Errorf("%s: %q, want %q", c, got[c], s)
			}
		}
		ch := changed(before, p.snapshot())
		for comp := range ch {
			if comp != "cert-manager" && comp != "record" {
				t.Errorf("%s changed although only cert-manager's values did: %v", comp, ch[comp])
			}
		}
		if len(ch["cert-manager"]) == 0 {
			t.Errorf("cert-manager was not re-applied")
		}
		// Dependents were re-checked after cert-manager finished. KServe's
		// stage starts at once (its CRD step needs nothing) and its check
		// waits for everything it needs (dag.Begin of its last step), so
		// it ends after cert-manager is ready.
		order := map[string]int{}
		for i, e := range r.events {
			if _, ok := order[e.Stage+"/"+e.State]; !ok {
				order[e.Stage+"/"+e.State] = i
			}
		}
		if order["kserve/unchanged"] < order["cert-manager/ready"] {
			t.Errorf("kserve was checked before cert-manager was ready: %v", order)
		}
	})
	cfg = p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n")

	t.Run("a webhook without endpoints fails its stage, skips dependents, others finish", func(t *testing.T) {
		scale(t, p.kube, "kserve", "kserve-controller-manager", 0)
		defer scale(t, p.kube, "kserve", "kserve-controller-manager", 1)
		waitNoEndpoints(t, p.kube, "kserve", "kserve-webhook-server-service")
		broken := p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n  kserve:\n    timeout: 4s\n")
		r := p.run(broken, "up", "--no-forward", "--no-verify", "-o", "json")
		if r.code == 0 {
			t.Fatalf("up succeeded with KServe's webhook down:\n%s", r.stderr)
		}
		want := "service kserve-webhook-server-service in namespace kserve has no ready endpoints"
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not name the service (%q):\n%s", want, r.stderr)
		}
		got := r.finalStates()
		// Kyverno needs only KServe's CRD step (its policies name an
		// InferenceService), not KServe Ready: it is not skipped.
		for c, s := range map[string]string{"kserve": "failed", "kyverno": "unchanged", "demo": "skipped",
			"cert-manager": "unchanged", "argocd": "unchanged", "backstage": "unchanged", "knative-serving": "unchanged", "kourier": "unchanged"} {
			if got[c] != s {
				t.Errorf("%s: %q, want %q", c, got[c], s)
			}
		}
		if !strings.Contains(r.stderr, "Hint: kubectl -n kserve get endpointslices") {
			t.Errorf("no hint to look at the endpoints:\n%s", r.stderr)
		}
	})

	t.Run("up interrupted mid-stage, then up converges", func(t *testing.T) {
		changedCfg := p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n  argocd:\n    values:\n      global:\n        podLabels: {neuroscale-test: interrupted}\n")
		cmd, out, errb, started := p.start(changedCfg, "up", "--no-forward", "--no-verify", "-o", "json")
		// Interrupt once the argocd stage runs: its server pod is kept
		// Pending for 3 s, so the stage is waiting for it.
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(out.String(), `"stage":"argocd","state":"running"`) {
			if time.Now().After(deadline) {
				t.Fatalf("argocd never started:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		_ = cmd.Process.Signal(os.Interrupt)
		r := p.wait(cmd, out, errb, started)
		if r.code != 130 {
			t.Fatalf("interrupted up: exit %d, want 130\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "interrupted") || !strings.Contains(r.stderr, "run neuroscale up again") {
			t.Errorf("interruption not explained:\n%s", r.stderr)
		}
		if ph := p.records()["argocd"].Phase; ph != state.Applying {
			t.Errorf("argocd record phase %s after interruption, want Applying", ph)
		}
		again := p.run(changedCfg, "up", "--no-forward", "--no-verify", "-o", "json")
		p.mustSucceed(again, "up after interruption")
		if s := again.finalStates()["argocd"]; s != "ready" {
			t.Errorf("argocd after interruption: %q, want ready (re-applied)", s)
		}
		if ph := p.records()["argocd"].Phase; ph != state.Applied {
			t.Errorf("argocd record phase %s, want Applied", ph)
		}
	})
	cfg = p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n  argocd:\n    values:\n      global:\n        podLabels: {neuroscale-test: interrupted}\n")

	t.Run("a pending Helm release left by a killed process is recovered", func(t *testing.T) {
		killCfg := p.config("components:\n  cert-manager:\n    values:\n      podLabels: {neuroscale-test: changed}\n  argocd:\n    values:\n      global:\n        podLabels: {neuroscale-test: interrupted}\n  kyverno:\n    values:\n      admissionController:\n        podLabels: {neuroscale-test: killed}\n")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		w, err := p.kube.CoreV1().Secrets("kyverno").Watch(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=kyverno"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		cmd, out, errb, started := p.start(killCfg, "up", "--no-forward", "--no-verify", "-o", "json")
		var pending string
		for pending == "" {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Error {
					t.Fatalf("watch: %v", ev.Object)
				}
				if s, ok := ev.Object.(metav1.Object); ok && strings.HasPrefix(s.GetLabels()["status"], "pending") {
					pending = s.GetLabels()["status"]
					_ = cmd.Process.Kill()
				}
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				t.Fatalf("kyverno's release never went pending")
			}
		}
		r := p.wait(cmd, out, errb, started)
		if r.code != -1 {
			t.Logf("neuroscale exited %d before the kill", r.code)
		}
		last := lastReleaseStatus(t, p.kube, "kyverno", "kyverno")
		if !strings.HasPrefix(last, "pending") {
			t.Skipf("the upgrade finished before the kill landed (release %s); nothing to recover", last)
		}
		again := p.run(killCfg, "up", "--no-forward", "--no-verify", "-o", "json")
		p.mustSucceed(again, "up after a killed run")
		if strings.Contains(again.stderr, "another operation") {
			t.Errorf("Helm's pending lock leaked to the user:\n%s", again.stderr)
		}
		if s := lastReleaseStatus(t, p.kube, "kyverno", "kyverno"); s != "deployed" {
			t.Errorf("kyverno release %s after recovery, want deployed", s)
		}
		t.Logf("recovered a release left %s", pending)
	})

	t.Run("down removes every release and owned object, keeps CRDs", func(t *testing.T) {
		recs := p.records()
		r := p.run(cfg, "down")
		p.mustSucceed(r, "down")
		assertNothingOwned(t, p, recs, false)
	})

	t.Run("down --purge also removes CRDs", func(t *testing.T) {
		up := p.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json")
		p.mustSucceed(up, "up before purge")
		recs := p.records()
		r := p.run(cfg, "down", "--purge")
		p.mustSucceed(r, "down --purge")
		assertNothingOwned(t, p, recs, true)
	})
}

func logStages(t *testing.T, r result) {
	t.Helper()
	var lines []string
	for _, s := range r.summary.Stages {
		lines = append(lines, fmt.Sprintf("%s %.1fs", s.Name, s.Seconds))
	}
	t.Logf("stages: %s", strings.Join(lines, ", "))
}

func scale(t *testing.T, kube kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	s, err := kube.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Replicas = replicas
	if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitNoEndpoints(t *testing.T, kube kubernetes.Interface, ns, svc string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		l, err := kube.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range l.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					n++
				}
			}
		}
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/%s still has ready endpoints", ns, svc)
}

func lastReleaseStatus(t *testing.T, kube kubernetes.Interface, ns, name string) string {
	t.Helper()
	l, err := kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	best, status := -1, ""
	for _, s := range l.Items {
		var v int
		fmt.Sscanf(s.Labels["version"], "%d", &v)
		if v > best {
			best, status = v, s.Labels["status"]
		}
	}
	return status
}

// assertNothingOwned checks that no Helm release, no record and no object
// carrying neuroscale's component label is left, that every recorded
// object is gone (but CRDs unless purged), and that CRDs are gone when
// purged.
func assertNothingOwned(t *testing.T, p *platform, recs map[string]*state.Record, purged bool) {
	t.Helper()
	ctx := context.Background()
	rel, err := p.kube.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rel.Items {
		t.Errorf("Helm release left: %s/%s (%s)", s.Namespace, s.Labels["name"], s.Labels["status"])
	}
	if left := p.records(); len(left) > 0 {
		t.Errorf("records left: %v", keys(left))
	}
	p.mapper.Reset()
	var crds []string
	for _, rec := range recs {
		for _, r := range rec.Objects() {
			isCRD := r.Kind == "CustomResourceDefinition"
			if isCRD {
				crds = append(crds, r.Name)
			}
			if (isCRD && !purged) || r.Kind == "Namespace" {
				continue
			}
			m, err := p.mapper.RESTMapping(r.GVK().GroupKind(), r.Version)
			if err != nil {
				continue // the kind went with its CRD
			}
			_, err = p.meta.Resource(m.Resource).Namespace(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s: %s still there (%v)", rec.Component, r, err)
			}
		}
	}
	if len(crds) == 0 {
		t.Fatal("no CRD was recorded; the platform installs dozens")
	}
	for _, name := range crds {
		_, err := p.meta.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).Get(ctx, name, metav1.GetOptions{})
		if purged && !apierrors.IsNotFound(err) {
			t.Errorf("CRD %s survived down --purge", name)
		}
		if !purged && err != nil {
			t.Errorf("CRD %s removed by down without --purge: %v", name, err)
		}
	}
	// Whatever was labelled as neuroscale's, under any kind, is gone.
	lists, err := p.disc.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var left []string
	var wg sync.WaitGroup
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if !contains(res.Verbs, "list") || strings.Contains(res.Name, "/") {
				continue
			}
			wg.Add(1)
			go func(gvr schema.GroupVersionResource) {
				defer wg.Done()
				items, err := p.meta.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: state.LabelComponent})
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, it := range items.Items {
					if it.DeletionTimestamp == nil {
						left = append(left, fmt.Sprintf("%s %s/%s", gvr.Resource, it.Namespace, it.Name))
					}
				}
			}(gv.WithResource(res.Name))
		}
	}
	wg.Wait()
	sort.Strings(left)
	for _, l := range left {
		if purged || !strings.HasPrefix(l, "customresourcedefinitions ") {
			t.Errorf("object labelled %s left: %s", state.LabelComponent, l)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
