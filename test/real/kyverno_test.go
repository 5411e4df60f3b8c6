package real_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/doctor"
	"github.com/neuroscale-dev/neuroscale/internal/validate"
)

// realOnly is the platform these tests need, cert-manager and Kyverno
// (with its policies), and nothing else, so each bench converges in
// seconds; TestGoldenPath runs every component with its real programs.
const realOnly = `components:
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  backstage: {enabled: false}
  demo: {enabled: false}
`

// TestKyverno installs cert-manager and Kyverno with neuroscale up while
// their real programs play their pods (cert-manager is then checked to
// issue KServe's webhook certificate), and while the real Kyverno
// admission controller plays its pod, then puts a corpus through the real
// webhooks and through neuroscale's own evaluator (validate.Refusals) and
// compares the verdicts, and finally stops the real server to check that
// doctor names its webhook and that an up started while the webhook is
// registered but not answering waits for it and succeeds. The steps build
// on each other, so they are one test.
func TestKyverno(t *testing.T) {
	b := newBench(t)
	rendered := b.render()

	// KServe's InferenceService CRD alone (no KServe webhook): Kyverno's own
	// policy webhook refuses a policy for a kind the cluster does not know,
	// and on a laptop KServe comes before Kyverno.
	for _, crd := range decodeBytes(t, b.chartFile("kserve-crd-v0.20.0.tgz", "kserve-crd/templates/serving.kserve.io_inferenceservices.yaml")) {
		b.apply(crd)
		waitFor(t, "InferenceService CRD established", time.Minute, func(ctx context.Context) (bool, error) {
			u, err := b.dyn.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
	}

	cfg := b.config("neuroscale.yaml", realOnly)
	// frozen is the pid of a Kyverno process stopped with SIGSTOP; it is
	// continued whatever happens, so the cluster can stop cleanly.
	var frozen int
	t.Cleanup(func() {
		if frozen != 0 {
			_ = syscall.Kill(frozen, syscall.SIGCONT)
		}
	})
	b.mustSucceed(b.run(cfg, "up", "--no-forward", "--no-verify", "-o", "json"), "cold up with the real cert-manager and Kyverno")
	b.checkKyvernoIsReal()

	t.Run("cert-manager issues KServe's webhook certificate", func(t *testing.T) {
		b.checkCertManagerIssues(t, rendered["kserve"])
	})

	t.Run("admission corpus, real Kyverno against validate", func(t *testing.T) {
		var policies []*unstructured.Unstructured
		for _, o := range rendered["kyverno"] {
			if o.GetKind() == "ClusterPolicy" {
				policies = append(policies, o)
			}
		}
		if len(policies) != 5 {
			t.Fatalf("rendered kyverno component has %d ClusterPolicies, want 5", len(policies))
		}
		for _, c := range corpus(t, b, rendered) {
			realErr := b.admitted(c.obj)
			ours := validate.Refusals(policies, c.obj)
			t.Logf("%-40s real Kyverno: %-7s validate: %s", c.name, verdict(realErr == nil), verdict(len(ours) == 0))
			if (realErr == nil) != c.admit {
				t.Errorf("%s: real Kyverno admitted=%v, want %v (%v)", c.name, realErr == nil, c.admit, realErr)
			}
			if (len(ours) == 0) != (realErr == nil) {
				t.Errorf("%s: validate.Refusals says admitted=%v (%v) but the real Kyverno says %v (%v): the evaluator drifted from Kyverno",
					c.name, len(ours) == 0, ours, realErr == nil, realErr)
			}
			for _, r := range ours {
				if realErr != nil && !strings.Contains(realErr.Error(), r.Policy) {
					t.Errorf("%s: validate blames policy %s, the real Kyverno does not name it: %v", c.name, r.Policy, realErr)
				}
			}
		}
	})

	t.Run("doctor names the webhook whose real server stopped answering", func(t *testing.T) {
		// A frozen process (SIGSTOP) keeps its webhook configurations
		// registered, as a crashed or hung Kyverno does (a clean stop
		// removes them); the harness's readiness probe then fails and the
		// pod loses its endpoints, as with a kubelet.
		pid := b.kyvernoPid()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		frozen = pid
		b.waitKyvernoReady(false)
		findings, r := b.doctor(t, cfg)
		if r.code != 1 {
			t.Fatalf("doctor exit %d, want 1 (a finding)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		found := false
		for _, f := range findings {
			if f.ID == doctor.IDWebhookNoEndpoints && strings.Contains(f.Object, "kyverno-svc") && strings.Contains(f.Evidence, "WebhookConfiguration kyverno-") {
				found = true
				t.Logf("doctor: %s: %s", f.Object, f.Evidence)
			}
		}
		if !found {
			t.Fatalf("doctor did not name Kyverno's webhook:\n%s", r.stdout)
		}
	})

	t.Run("up waits for a registered webhook whose server is not answering, then succeeds", func(t *testing.T) {
		if frozen == 0 {
			t.Skip("needs the frozen server of the previous step")
		}
		// A values change makes up re-apply Kyverno and its policies, whose
		// webhooks are registered but not answering.
		changed := b.config("changed.yaml", realOnly+"  kyverno:\n    values:\n      cleanupController:\n        podLabels: {bench: changed}\n")
		up := b.startBackground(t, changed, "up", "--no-forward", "--no-verify", "-o", "json")
		cmd, out, errb, done := up.cmd, up.out, up.errb, up.done
		// up must still be running, held by the webhook, a while after it
		// began applying Kyverno: it finishing now would mean it never met
		// the webhook.
		waitFor(t, "up applying kyverno", 5*time.Minute, func(context.Context) (bool, error) {
			select {
			case <-done:
				return false, fmt.Errorf("up ended before applying kyverno: %s\n%s", errb.String(), out.String())
			default:
			}
			// -o json: progress events on standard output.
			return strings.Contains(out.String(), `"stage":"kyverno"`), nil
		})
		select {
		case <-done:
			t.Fatalf("up finished while Kyverno's webhook server was frozen (exit %d): it did not wait\n%s", cmd.ProcessState.ExitCode(), errb.String())
		case <-time.After(20 * time.Second):
		}
		if err := syscall.Kill(frozen, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		frozen = 0
		<-done
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("up after the webhook server came back: exit %d\n%s\n%s", code, tail(errb.String(), 6000), tail(out.String(), 3000))
		}
		b.checkKyvernoIsReal()
		root := decodeFile(t, "testdata/root-deployment.yaml")
		if err := b.admitted(root); err == nil {
			t.Fatal("after up, the real Kyverno admitted a root container Deployment")
		}
		cfg = changed
	})

	t.Run("a no-op re-run stays a no-op", func(t *testing.T) {
		final := b.checkNoOp(t, cfg)
		if final["kyverno"] != "unchanged" {
			t.Errorf("no-op re-run: kyverno ended %q, want unchanged (all: %v)", final["kyverno"], final)
		}
	})
}

// admissionCase is one object of the corpus and the platform's intent.
type admissionCase struct {
	name  string
	obj   *unstructured.Unstructured
	admit bool
}

func corpus(t *testing.T, b *bench, rendered map[string][]*unstructured.Unstructured) []admissionCase {
	t.Helper()
	var demo, templates *unstructured.Unstructured
	for _, o := range rendered["demo"] {
		if o.GetKind() == "InferenceService" {
			demo = o
		}
	}
	for _, o := range rendered["backstage"] {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-templates") {
			templates = o
		}
	}
	if demo == nil || templates == nil {
		t.Fatalf("render: demo InferenceService found=%v, Backstage templates ConfigMap found=%v", demo != nil, templates != nil)
	}
	sample, err := validate.TemplateSample(templates)
	if err != nil || sample == nil {
		t.Fatalf("template sample: %v", err)
	}
	if sample.GetNamespace() == "" {
		sample.SetNamespace("default")
	}
	return []admissionCase{
		{"InferenceService without owner/cost-center", decodeFile(t, "testdata/unlabelled-inferenceservice.yaml"), false},
		{"root container Deployment in default", decodeFile(t, "testdata/root-deployment.yaml"), false},
		{"the demo InferenceService", demo, true},
		{"a Knative-generated Deployment", decodeFile(t, "testdata/knative-deployment.yaml"), true},
		{"the Backstage Template's InferenceService", sample, true},
	}
}

func verdict(admitted bool) string {
	if admitted {
		return "admit"
	}
	return "deny"
}

func decodeFile(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	objs := decodeAll(t, filepath.Clean(path))
	if len(objs) != 1 {
		t.Fatalf("%s: %d objects, want 1", path, len(objs))
	}
	return objs[0]
}

// checkKyvernoIsReal checks that Kyverno's admission controller pod is
// Ready and played by the real program: its log is the process's output,
// and the webhooks Kyverno registers at run time (not in the chart) exist.
func (b *bench) checkKyvernoIsReal() {
	b.t.Helper()
	ctx := context.Background()
	var pod corev1.Pod
	waitFor(b.t, "a Ready kyverno admission controller pod", 3*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := b.kube.CoreV1().Pods("kyverno").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=admission-controller"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					pod = p
					return true, nil
				}
			}
		}
		return false, nil
	})
	if !strings.HasPrefix(pod.Status.PodIP, "198.1") {
		b.t.Errorf("pod IP %s is not in the bench's local range 198.18.0.0/15", pod.Status.PodIP)
	}
	logs, err := b.kube.CoreV1().Pods("kyverno").GetLogs(pod.Name, &corev1.PodLogOptions{Container: "kyverno"}).DoRaw(ctx)
	if err != nil {
		b.t.Fatalf("logs of %s: %v", pod.Name, err)
	}
	if !strings.Contains(string(logs), "webhook") {
		b.t.Fatalf("the log of %s is not Kyverno's:\n%s", pod.Name, tail(string(logs), 2000))
	}
	if _, err := b.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "kyverno-resource-validating-webhook-cfg", metav1.GetOptions{}); err != nil {
		b.t.Fatalf("Kyverno's resource webhook, which the real program registers: %v", err)
	}
}

// kyvernoPid returns the pid of the process that plays the Ready
// admission controller pod (the harness records it).
func (b *bench) kyvernoPid() int {
	b.t.Helper()
	pod := b.waitKyvernoReady(true)
	path := filepath.Join(b.clusterDir, "real", "kyverno_"+pod.Name+"_kyverno", "pid")
	data, err := os.ReadFile(path)
	if err != nil {
		b.t.Fatalf("pid of the real Kyverno: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		b.t.Fatalf("pid of the real Kyverno in %s: %v", path, err)
	}
	return pid
}

// waitKyvernoReady waits until the admission controller pod is Ready (or,
// with ready false, not Ready) and returns it.
func (b *bench) waitKyvernoReady(ready bool) corev1.Pod {
	b.t.Helper()
	var pod corev1.Pod
	waitFor(b.t, fmt.Sprintf("kyverno admission controller pod Ready=%v", ready), 5*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := b.kube.CoreV1().Pods("kyverno").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=admission-controller"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && (c.Status == corev1.ConditionTrue) == ready {
					pod = p
					return true, nil
				}
			}
		}
		return false, nil
	})
	return pod
}
