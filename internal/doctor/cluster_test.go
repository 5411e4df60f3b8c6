package doctor

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
	"github.com/neuroscale-dev/neuroscale/internal/forward/forwardtest"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	"github.com/neuroscale-dev/neuroscale/internal/verify/verifytest"
)

// Doctor looks at the whole cluster, so its cluster tests run one after
// another on a package cluster of their own, with the platform's real
// names. The simulator is off: the tests set InferenceService status.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, testcluster.WithSimulation(false))) }

// A token of the right shape (ghp_ and 36 characters), built in two parts
// so that it does not look like a leaked one to scanners.
var (
	goodToken    = "ghp_" + "Zq7Lm2Xv9Rb4Tn8Kc1Wd6Yf3Hs5Gp0Ja2Eu7"
	rotatedToken = "ghp_" + "Qw8Er3Ty6Ui1Op4As7Df2Gh5Jk9Lz0Xc3Vb6"
)

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// platform is the healthy platform the cases break and mend.
type platform struct {
	t         *testing.T
	c         *testcluster.Cluster
	cs        kubernetes.Interface
	dyn       dynamic.Interface
	r         *config.Resolved
	backstage *verifytest.Backstage
	setLogs   func([]string)
	stopFwd   func()
}

// applyAs server-side applies obj as field manager, as neuroscale does
// (manager "neuroscale") or a person would with kubectl apply.
func (p *platform) applyAs(gvr schema.GroupVersionResource, obj runtime.Object, manager string) {
	p.t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		p.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	var ri dynamic.ResourceInterface = p.dyn.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = p.dyn.Resource(gvr).Namespace(ns)
	}
	if _, err := ri.Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: manager, Force: true}); err != nil {
		p.t.Fatalf("apply %s %s as %s: %v", gvr.Resource, u.GetName(), manager, err)
	}
}

func ensureNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func secretObject(token string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: content.BackstageNamespace, Name: content.BackstageSecret},
		Data:       map[string][]byte{"GITHUB_TOKEN": []byte(token)},
	}
}

func appConfigMap(title string) *corev1.ConfigMap {
	app := "  baseUrl: http://localhost:7010\n"
	if title != "" {
		app = "  title: " + title + "\n" + app
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: content.BackstageNamespace, Name: content.BackstageRelease + "-app-config"},
		Data: map[string]string{"app-config.yaml": "app:\n" + app +
			"backend:\n  baseUrl: http://localhost:7010\n  listen:\n    port: 7007\n"},
	}
}

func probe(p *config.Probe, path string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(content.BackstagePort)}},
		InitialDelaySeconds: int32(p.InitialDelaySeconds), PeriodSeconds: int32(p.PeriodSeconds),
		TimeoutSeconds: int32(p.TimeoutSeconds), FailureThreshold: int32(p.FailureThreshold),
	}
}

// backstageDeployment is Backstage as the chart renders it with the
// profile's probes, its app-config mounted and the checksum of what it
// reads from the Secret (none when token is empty, as before secret set
// existed).
func backstageDeployment(r *config.Resolved, token string) *appsv1.Deployment {
	one := int32(1)
	set := &secrets.Set{Entries: []secrets.Entry{{Name: "GITHUB_TOKEN", Value: secrets.NewValue([]byte(token)), Consumers: []string{content.BackstageNamespace + "/" + content.BackstageRelease}}}}
	labels := map[string]string{"app.kubernetes.io/name": "backstage"}
	pr := r.Backstage.Probes
	annotations := map[string]string{}
	if token != "" {
		annotations[secrets.ChecksumAnnotation] = secrets.Checksum(set, content.BackstageNamespace+"/"+content.BackstageRelease)
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: content.BackstageNamespace, Name: content.BackstageRelease},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "backstage-backend", Image: "ghcr.io/backstage/backstage:1.40.0",
						Args:  []string{"--config", "/app/app-config-from-configmap.yaml"},
						Ports: []corev1.ContainerPort{{Name: "backend", ContainerPort: content.BackstagePort}},
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: content.BackstageSecret}}}},
						StartupProbe:   probe(pr.Startup, content.BackstageLivenessPath),
						ReadinessProbe: probe(pr.Readiness, content.BackstageReadinessPath),
						LivenessProbe:  probe(pr.Liveness, content.BackstageLivenessPath),
						VolumeMounts:   []corev1.VolumeMount{{Name: "app-config", MountPath: "/app/app-config-from-configmap.yaml", SubPath: "app-config.yaml"}},
					}},
					Volumes: []corev1.Volume{{Name: "app-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: content.BackstageRelease + "-app-config"}}}}},
				},
			},
		},
	}
}

// setup builds the healthy platform: Backstage with its Secret,
// app-config and probes applied by neuroscale, a KServe webhook with a
// ready endpoint, Knative routed through Kourier, a Ready demo
// InferenceService with its predictor, a deployed Helm release, and the
// forwards supervised on the configured ports.
func setup(t *testing.T) *platform {
	c := testcluster.Get(t)
	p := &platform{t: t, c: c, cs: c.Client(t), dyn: verifytest.Dynamic(t, c)}
	ctx := context.Background()
	r, err := config.Resolve(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.r = r
	for _, ns := range []string{content.BackstageNamespace, "kserve", defaultKnativeNamespace} {
		ensureNamespace(t, p.cs, ns)
	}
	t.Cleanup(p.teardown)

	// Backstage: the Secret first, so the pods start after it.
	p.backstage = verifytest.NewBackstage(verifytest.BackstageState{Templates: []string{content.TemplateName}})
	bs := httptest.NewServer(p.backstage)
	t.Cleanup(bs.Close)
	c.ForwardPods(t, content.BackstageNamespace, nil, content.BackstagePort, bs.Listener.Addr().String())
	p.setLogs = verifytest.ServeLogs(t, c, content.BackstageNamespace, []string{`{"level":"info","message":"Listening on :7007"}`})
	p.applyAs(secretsGVR, secretObject(goodToken), "neuroscale")
	p.applyAs(configMapsGVR, appConfigMap("NeuroScale Platform"), "neuroscale")
	p.applyAs(deploymentsGVR, backstageDeployment(r, goodToken), "neuroscale")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: content.BackstageRelease},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": "backstage"},
			Ports:    []corev1.ServicePort{{Name: "http-backend", Port: content.BackstagePort, TargetPort: intstr.FromString("backend")}},
		},
	}
	if _, err := p.cs.CoreV1().Services(content.BackstageNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forwardtest.WaitReadyEndpoints(t, p.cs, content.BackstageNamespace, content.BackstageRelease, 1)

	// KServe's webhook, its controller and the demo predictor.
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: "kserve", Name: "kserve-webhook-server-service", ServicePort: 443, ContainerPort: 9443, Replicas: 1})
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	hook := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "inferenceservice.serving.kserve.io"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "inferenceservice.kserve-webhook-server.validator.webhook",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "kserve", Name: "kserve-webhook-server-service"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"serving.kserve.io"}, APIVersions: []string{"v1beta1"}, Resources: []string{"inferenceservices"}},
			}},
		}},
	}
	if _, err := p.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, hook, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pred := httptest.NewServer(verifytest.NewPredictor(content.DemoName, []int{1, 1}))
	t.Cleanup(pred.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: content.DemoNamespace, Name: content.DemoName + "-predictor", ServicePort: 80, ContainerPort: 8080, Replicas: 1, Target: pred.Listener.Addr().String()})
	verifytest.EnsureCRD(t, c, "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices")
	p.setInferenceService("True", "")

	// Knative routed through Kourier.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: knativeNetworkConfigMap}, Data: map[string]string{"ingress-class": content.KourierIngressClass}}
	if _, err := p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A deployed Helm release (revision 1).
	p.helmRevision(1, "deployed")

	// The forwards, on the ports doctor is told about.
	r.Forwards = []config.Forward{
		{Name: "backstage", Namespace: content.BackstageNamespace, Service: content.BackstageRelease, LocalPort: porttest.Free(t), RemotePort: content.BackstagePort, Probe: content.BackstageReadinessPath, Scheme: "http"},
		{Name: "demo", Namespace: content.DemoNamespace, Service: content.DemoName + "-predictor", LocalPort: porttest.Free(t), RemotePort: 80, Probe: "/v1/models/" + content.DemoName, Scheme: "http"},
	}
	p.startForwards()
	return p
}

// teardown deletes what setup created under fixed names, so that the
// next run (go test -count=2) starts from nothing.
func (p *platform) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bs := content.BackstageNamespace
	_ = p.cs.AppsV1().Deployments(bs).Delete(ctx, content.BackstageRelease, metav1.DeleteOptions{})
	_ = p.cs.CoreV1().Services(bs).Delete(ctx, content.BackstageRelease, metav1.DeleteOptions{})
	_ = p.cs.CoreV1().Secrets(bs).Delete(ctx, content.BackstageSecret, metav1.DeleteOptions{})
	_ = p.cs.CoreV1().ConfigMaps(bs).Delete(ctx, content.BackstageRelease+"-app-config", metav1.DeleteOptions{})
	_ = p.cs.CoreV1().Secrets(bs).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "owner=helm"})
	_ = p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Delete(ctx, knativeNetworkConfigMap, metav1.DeleteOptions{})
	_ = p.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "inferenceservice.serving.kserve.io", metav1.DeleteOptions{})
	_ = p.dyn.Resource(InferenceServiceGVR).Namespace(content.DemoNamespace).Delete(ctx, content.DemoName, metav1.DeleteOptions{})
}

func (p *platform) setInferenceService(ready, reason string) {
	p.t.Helper()
	gvr := InferenceServiceGVR
	cond := map[string]any{"type": "Ready", "status": ready}
	conds := []any{cond}
	if reason != "" {
		cond["reason"] = reason
		conds = append(conds, map[string]any{"type": "IngressReady", "status": ready, "reason": reason, "message": "Ingress has not yet been reconciled."})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": content.DemoName, "namespace": content.DemoNamespace},
		"spec":     map[string]any{"predictor": map[string]any{"model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}}}},
		"status":   map[string]any{"conditions": conds},
	}}
	// The CRD has no status subresource: status is written with the object.
	if _, err := p.dyn.Resource(gvr).Namespace(content.DemoNamespace).Apply(context.Background(), content.DemoName, u, metav1.ApplyOptions{FieldManager: "kserve-controller", Force: true}); err != nil {
		p.t.Fatal(err)
	}
}

func (p *platform) helmRevision(v int, status string) string {
	p.t.Helper()
	name := "sh.helm.release.v1." + content.BackstageRelease + ".v" + strconv.Itoa(v)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"owner": "helm", "name": content.BackstageRelease, "status": status, "version": strconv.Itoa(v)}},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": []byte("H4sI-not-a-real-release")},
	}
	if _, err := p.cs.CoreV1().Secrets(content.BackstageNamespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	return name
}

// startForwards runs a supervisor on the configured ports until
// stopForwards or the end of the test, and waits until both are up.
func (p *platform) startForwards() {
	p.t.Helper()
	s, err := forward.New(forward.Options{REST: p.c.RESTConfig(), Forwards: p.r.Forwards})
	if err != nil {
		p.t.Fatal(err)
	}
	p.stopFwd = s.Start(context.Background())
	p.t.Cleanup(p.stopForwards)
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := s.WaitUp(wctx); err != nil {
		p.t.Fatal(err)
	}
}

func (p *platform) stopForwards() {
	if p.stopFwd != nil {
		p.stopFwd()
		p.stopFwd = nil
	}
}

// doctor runs doctor as the CLI does, Backstage reached through the
// running forward, with the clock moved by skew.
func (p *platform) doctor(skew time.Duration) *Report {
	p.t.Helper()
	bsURL := p.r.Forwards[0].URL()
	rep, err := Run(context.Background(), Options{
		Config: p.r, REST: p.c.RESTConfig(), BackstageURL: bsURL,
		Now: func() time.Time { return time.Now().Add(skew) },
	})
	if err != nil {
		p.t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	for _, n := range rep.Notes {
		b.WriteString("note: " + n + "\n")
	}
	p.t.Logf("doctor:\n%s", b.String())
	return rep
}

func ids(rep *Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if !slices.Contains(out, f.ID) {
			out = append(out, f.ID)
		}
	}
	sort.Strings(out)
	return out
}

func (p *platform) expect(rep *Report, want []string, evidence map[string]string) {
	p.t.Helper()
	sort.Strings(want)
	if got := ids(rep); strings.Join(got, ",") != strings.Join(want, ",") {
		p.t.Errorf("findings %v, want %v", got, want)
	}
	for _, f := range rep.Findings {
		if ev, ok := evidence[f.ID]; ok && !strings.Contains(f.Evidence+" "+f.Message, ev) {
			p.t.Errorf("%s: evidence %q / message %q, want %q", f.ID, f.Evidence, f.Message, ev)
		}
		if f.Fix == "" || f.Object == "" {
			p.t.Errorf("%s: finding without object or fix: %+v", f.ID, f)
		}
		if strings.Contains(f.Evidence+f.Message+f.Fix, "YOUR_TOKEN") || strings.Contains(f.Evidence+f.Message+f.Fix, goodToken[4:]) || strings.Contains(f.Evidence+f.Message+f.Fix, rotatedToken[4:]) {
			p.t.Errorf("%s shows a secret value: %+v", f.ID, f)
		}
	}
}

func (p *platform) waitEndpoints(ns, name string, n int) {
	p.t.Helper()
	forwardtest.WaitReadyEndpoints(p.t, p.cs, ns, name, n)
}

func (p *platform) scale(ns, name string, n int32) {
	p.t.Helper()
	ctx := context.Background()
	sc, err := p.cs.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	sc.Spec.Replicas = n
	if _, err := p.cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	p.waitEndpoints(ns, name, int(n))
}

// waitRolledOut waits until Backstage's Deployment has one ready pod of
// its current template and no other.
func (p *platform) waitRolledOut() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := p.cs.AppsV1().Deployments(content.BackstageNamespace).Get(ctx, content.BackstageRelease, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := p.cs.CoreV1().Pods(content.BackstageNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=backstage"})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 1 && d.Status.ReadyReplicas == 1 && len(pods.Items) == 1, nil
	})
	if err != nil {
		p.t.Fatalf("backstage not rolled out: %v", err)
	}
	p.waitEndpoints(content.BackstageNamespace, content.BackstageRelease, 1)
}

// TestDoctorFindsEachFailure induces every known failure on a healthy
// platform, one at a time, checks that doctor names exactly it (with its
// evidence), mends it and checks that the platform is healthy again.
func TestDoctorFindsEachFailure(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	p.expect(p.doctor(0), nil, nil)

	cases := []struct {
		name     string
		induce   func()
		mend     func()
		skew     time.Duration
		want     []string
		evidence map[string]string
		// fix: what the finding's Fix must say.
		fix map[string]string
	}{
		{
			name: "probes edited by hand",
			induce: func() {
				d, err := p.cs.AppsV1().Deployments(content.BackstageNamespace).Get(ctx, content.BackstageRelease, metav1.GetOptions{})
				if err != nil {
					p.t.Fatal(err)
				}
				d.Spec.Template.Spec.Containers[0].ReadinessProbe.InitialDelaySeconds = 5
				if _, err := p.cs.AppsV1().Deployments(content.BackstageNamespace).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
					p.t.Fatal(err)
				}
				p.waitRolledOut()
			},
			mend: func() {
				p.applyAs(deploymentsGVR, backstageDeployment(p.r, goodToken), "neuroscale")
				p.waitRolledOut()
			},
			want: []string{IDProbesDrift, IDDrift},
			evidence: map[string]string{
				IDProbesDrift: "readinessProbe.initialDelaySeconds is 5, want 120",
				IDDrift:       "kubectl-edit (Update, ",
			},
			fix: map[string]string{IDDrift: "neuroscale up --reapply", IDProbesDrift: "neuroscale up --reapply"},
		},
		{
			name:   "webhook endpoints gone",
			induce: func() { p.scale("kserve", "kserve-webhook-server-service", 0) },
			mend:   func() { p.scale("kserve", "kserve-webhook-server-service", 1) },
			want:   []string{IDWebhookNoEndpoints},
			evidence: map[string]string{
				// The count is 1 while the scaled-down pod terminates, 0 after.
				IDWebhookNoEndpoints: "endpoints, none ready; called by inferenceservice.kserve-webhook-server.validator.webhook",
			},
		},
		{
			name:   "placeholder token",
			induce: func() { p.applyAs(secretsGVR, secretObject("<YOUR_TOKEN_HERE>"), "neuroscale") },
			mend:   func() { p.applyAs(secretsGVR, secretObject(goodToken), "neuroscale") },
			// The pods also still carry the old value's checksum.
			want: []string{IDSecretInvalid, IDSecretNewerThanPods},
			evidence: map[string]string{
				IDSecretInvalid:       "GITHUB_TOKEN: length 17, kind github-token: looks like a placeholder in angle brackets",
				IDSecretNewerThanPods: "carries the checksum of an older value",
			},
		},
		{
			name:   "empty token",
			induce: func() { p.applyAs(secretsGVR, secretObject(""), "neuroscale") },
			mend:   func() { p.applyAs(secretsGVR, secretObject(goodToken), "neuroscale") },
			want:   []string{IDSecretEmpty, IDSecretNewerThanPods},
			evidence: map[string]string{
				IDSecretEmpty: "GITHUB_TOKEN: length 0",
			},
		},
		{
			name: "token rotated, pods without checksum not restarted",
			induce: func() {
				p.applyAs(deploymentsGVR, backstageDeployment(p.r, ""), "neuroscale")
				p.waitRolledOut()
				// Times are kept in seconds: let one pass.
				time.Sleep(1100 * time.Millisecond)
				p.applyAs(secretsGVR, secretObject(rotatedToken), "neuroscale")
			},
			mend: func() {
				p.applyAs(secretsGVR, secretObject(goodToken), "neuroscale")
				p.applyAs(deploymentsGVR, backstageDeployment(p.r, goodToken), "neuroscale")
				p.waitRolledOut()
			},
			want:     []string{IDSecretNewerThanPods},
			evidence: map[string]string{IDSecretNewerThanPods: ", the Secret was last written "},
		},
		{
			name: "traefik deployment",
			induce: func() {
				d := forwardtest.Deployment(forwardtest.Workload{Namespace: "kube-system", Name: "traefik", ContainerPort: 8000, Replicas: 1})
				if _, err := p.cs.AppsV1().Deployments("kube-system").Create(ctx, d, metav1.CreateOptions{}); err != nil {
					p.t.Fatal(err)
				}
			},
			mend: func() {
				if err := p.cs.AppsV1().Deployments("kube-system").Delete(ctx, "traefik", metav1.DeleteOptions{}); err != nil {
					p.t.Fatal(err)
				}
			},
			want:     []string{IDTraefikPresent},
			evidence: map[string]string{IDTraefikPresent: "found Deployment kube-system/traefik"},
		},
		{
			name: "knative without kourier",
			induce: func() {
				cm, err := p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Get(ctx, knativeNetworkConfigMap, metav1.GetOptions{})
				if err != nil {
					p.t.Fatal(err)
				}
				delete(cm.Data, "ingress-class")
				if _, err := p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					p.t.Fatal(err)
				}
			},
			mend: func() {
				cm, err := p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Get(ctx, knativeNetworkConfigMap, metav1.GetOptions{})
				if err != nil {
					p.t.Fatal(err)
				}
				cm.Data = map[string]string{"ingress-class": content.KourierIngressClass}
				if _, err := p.cs.CoreV1().ConfigMaps(defaultKnativeNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					p.t.Fatal(err)
				}
			},
			want:     []string{IDKnativeIngressClass},
			evidence: map[string]string{IDKnativeIngressClass: "ingress-class is not set, want kourier.ingress.networking.knative.dev"},
			// A plain up only checks the unchanged knative-serving.
			fix: map[string]string{IDKnativeIngressClass: "neuroscale up --reapply"},
		},
		{
			name: "helm release stuck pending",
			induce: func() {
				p.helmRevision(2, "pending-upgrade")
				// Young, it may be an upgrade in progress: not a finding.
				p.expect(p.doctor(0), nil, nil)
			},
			mend: func() {
				if err := p.cs.CoreV1().Secrets(content.BackstageNamespace).Delete(ctx, "sh.helm.release.v1."+content.BackstageRelease+".v2", metav1.DeleteOptions{}); err != nil {
					p.t.Fatal(err)
				}
			},
			skew: 10 * time.Minute,
			want: []string{IDHelmReleasePending},
			evidence: map[string]string{
				IDHelmReleasePending: "Secret backstage/sh.helm.release.v1.neuroscale-backstage.v2 has label status=pending-upgrade",
			},
		},
		{
			name:     "inference service not ready",
			induce:   func() { p.setInferenceService("False", "IngressNotConfigured") },
			mend:     func() { p.setInferenceService("True", "") },
			want:     []string{IDInferenceServiceNotRdy},
			evidence: map[string]string{IDInferenceServiceNotRdy: "Ready=False reason=IngressNotConfigured"},
		},
		{
			name: "scaffolder 401",
			induce: func() {
				p.backstage.Set(verifytest.BackstageState{Templates: []string{content.TemplateName}, ActionsStatus: 401})
			},
			mend:     func() { p.backstage.Set(verifytest.BackstageState{Templates: []string{content.TemplateName}}) },
			want:     []string{IDScaffolderUnauthorized},
			evidence: map[string]string{IDScaffolderUnauthorized: "GET /api/scaffolder/v2/actions → 401"},
		},
		{
			name: "guest sign-in refused",
			induce: func() {
				p.backstage.Set(verifytest.BackstageState{Templates: []string{content.TemplateName}, GuestStatus: 403})
			},
			mend:     func() { p.backstage.Set(verifytest.BackstageState{Templates: []string{content.TemplateName}}) },
			want:     []string{IDGuestSignInRefused},
			evidence: map[string]string{IDGuestSignInRefused: "GET /api/auth/guest/refresh → 403"},
		},
		{
			name: "template rejected",
			induce: func() {
				p.setLogs([]string{`{"level":"warn","message":"Failed to process location","location":{"type":"file","target":"/app/templates/model-endpoint/template.yaml"},"error":"NotAllowedError: Forbidden: entity of kind Template is not allowed from that location","plugin":"catalog"}`})
			},
			mend:     func() { p.setLogs([]string{`{"level":"info","message":"Listening on :7007"}`}) },
			want:     []string{IDTemplateRejected},
			evidence: map[string]string{IDTemplateRejected: "NotAllowedError: Forbidden: entity of kind Template is not allowed from that location"},
		},
		{
			name:     "app title missing",
			induce:   func() { p.applyAs(configMapsGVR, appConfigMap(""), "neuroscale") },
			mend:     func() { p.applyAs(configMapsGVR, appConfigMap("NeuroScale Platform"), "neuroscale") },
			want:     []string{IDAppTitleMissing},
			evidence: map[string]string{IDAppTitleMissing: "no app.title in ConfigMap neuroscale-backstage-app-config (app-config.yaml)"},
		},
		{
			name:   "forwards absent",
			induce: p.stopForwards,
			mend:   p.startForwards,
			want:   []string{IDForwardAbsent},
			evidence: map[string]string{
				IDForwardAbsent: "(connection refused)",
			},
		},
		{
			name: "forward dead",
			induce: func() {
				// What a dead kubectl port-forward looks like: it still
				// listens, and drops every connection.
				p.stopForwards()
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.r.Forwards[0].LocalPort)))
				if err != nil {
					p.t.Fatal(err)
				}
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						_ = c.Close()
					}
				}()
				p.stopFwd = func() { _ = ln.Close() }
			},
			mend: func() {
				p.stopForwards()
				p.startForwards()
			},
			// Backstage's own checks go through the dead port too.
			want: []string{IDForwardDead, IDForwardAbsent},
			evidence: map[string]string{
				IDForwardDead: "is held by pid ",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.t = t
			defer func() { p.t = t }()
			tc.induce()
			rep := p.doctor(tc.skew)
			p.expect(rep, tc.want, tc.evidence)
			for _, f := range rep.Findings {
				if want, ok := tc.fix[f.ID]; ok && !strings.Contains(f.Fix, want) {
					t.Errorf("%s: fix %q, want it to say %q", f.ID, f.Fix, want)
				}
			}
			tc.mend()
			p.expect(p.doctor(tc.skew), nil, nil)
		})
	}
}
