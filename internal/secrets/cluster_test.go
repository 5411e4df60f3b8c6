package secrets

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// deployment is a one-replica Deployment; readsSecret wires the Secret in
// with envFrom, as the Backstage chart's extraEnvVarsSecrets does.
func deployment(name, readsSecret string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	c := corev1.Container{Name: "main", Image: "registry.example/app:1.0"}
	if readsSecret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: readsSecret}}}}
	}
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
			},
		},
	}
}

func create(t *testing.T, cs kubernetes.Interface, ns string, d *appsv1.Deployment) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s: %v", d.Name, err)
	}
}

func getDeployment(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getSecretT(t *testing.T, cs kubernetes.Interface, target Target) *corev1.Secret {
	t.Helper()
	s, err := cs.CoreV1().Secrets(target.Namespace).Get(context.Background(), target.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// createSecret makes a Secret by hand, as a user with kubectl would.
func createSecret(t *testing.T, cs kubernetes.Interface, target Target, data map[string]string) {
	t.Helper()
	d := map[string][]byte{}
	for k, v := range data {
		d[k] = []byte(v)
	}
	if _, err := cs.CoreV1().Secrets(target.Namespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: target.Name}, Data: d,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func tokenSet(target Target, consumer, value string) *Set {
	return &Set{Target: target, Readers: []string{consumer}, Entries: []Entry{{
		Name: "GITHUB_TOKEN", Kind: KindGitHubToken, Origin: Origin{Kind: OriginStdin},
		Value: NewValue([]byte(value)), Consumers: []string{consumer},
	}}}
}

// TestStoreRollsOnlyWhatChanged: a new value rolls exactly the consumer;
// the same value again changes no object at all (resourceVersions stay);
// keys stored earlier survive.
func TestStoreRollsOnlyWhatChanged(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	cfg := c.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target := Target{Namespace: ns, Name: "app-secrets"}
	consumer := ns + "/reader"

	// A key someone stored by hand before neuroscale managed the Secret.
	createSecret(t, cs, target, map[string]string{"EXTRA": "kept-by-hand"})
	create(t, cs, ns, deployment("reader", target.Name))
	create(t, cs, ns, deployment("bystander", ""))
	// Let the Deployment controller finish its own status writes first.
	for _, d := range []string{"reader", "bystander"} {
		if err := WaitRolledOut(ctx, cfg, ns+"/"+d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	bystander := getDeployment(t, cs, ns, "bystander")

	tokenA, tokenB := "ghp_"+body36, "ghp_"+refresh76[:36]
	res, err := Store(ctx, cfg, tokenSet(target, consumer, tokenA), nil)
	if err != nil {
		t.Fatalf("Store: %v", err)
	}
	if !res.Applied.Changed || res.Applied.Created || !slices.Equal(res.Applied.Kept, []string{"EXTRA"}) {
		t.Fatalf("Applied = %+v", res.Applied)
	}
	if len(res.Rollouts) != 1 || res.Rollouts[0] != (Rollout{Consumer: consumer, Action: Rolled}) {
		t.Fatalf("Rollouts = %v", res.Rollouts)
	}
	s := getSecretT(t, cs, target)
	if string(s.Data["GITHUB_TOKEN"]) != tokenA || string(s.Data["EXTRA"]) != "kept-by-hand" || len(s.Data) != 2 {
		t.Fatalf("Secret holds keys %v", keys(s.Data))
	}
	reader := getDeployment(t, cs, ns, "reader")
	sumA := reader.Spec.Template.Annotations[ChecksumAnnotation]
	if sumA == "" || sumA != Checksum(res.Applied.Set, consumer) {
		t.Fatalf("reader annotation = %q, want the checksum of the merged Secret", sumA)
	}
	if got := getDeployment(t, cs, ns, "bystander"); got.ResourceVersion != bystander.ResourceVersion {
		t.Fatal("a Deployment that does not read the Secret was changed")
	}
	if err := WaitRolledOut(ctx, cfg, consumer, 200*time.Millisecond); err != nil {
		t.Fatalf("WaitRolledOut: %v", err)
	}

	// The same value: nothing is written.
	reader = getDeployment(t, cs, ns, "reader")
	secretRV := s.ResourceVersion
	res, err = Store(ctx, cfg, tokenSet(target, consumer, tokenA), nil)
	if err != nil {
		t.Fatalf("Store again: %v", err)
	}
	if res.Applied.Changed || res.Rollouts[0].Action != Unchanged {
		t.Fatalf("unchanged re-run: Changed=%v rollouts=%v", res.Applied.Changed, res.Rollouts)
	}
	if got := getSecretT(t, cs, target).ResourceVersion; got != secretRV {
		t.Fatalf("Secret resourceVersion %s -> %s on an unchanged re-run", secretRV, got)
	}
	if got := getDeployment(t, cs, ns, "reader"); got.ResourceVersion != reader.ResourceVersion || got.Generation != reader.Generation {
		t.Fatal("reader changed on an unchanged re-run")
	}

	// A new value: the Secret and exactly the reader change.
	res, err = Store(ctx, cfg, tokenSet(target, consumer, tokenB), nil)
	if err != nil {
		t.Fatalf("Store new value: %v", err)
	}
	if !res.Applied.Changed || res.Rollouts[0].Action != Rolled {
		t.Fatalf("new value: Changed=%v rollouts=%v", res.Applied.Changed, res.Rollouts)
	}
	got := getDeployment(t, cs, ns, "reader")
	if sumB := got.Spec.Template.Annotations[ChecksumAnnotation]; sumB == sumA || got.Generation != reader.Generation+1 {
		t.Fatalf("reader not rolled: annotation %q (was %q), generation %d (was %d)", sumB, sumA, got.Generation, reader.Generation)
	}
	if string(getSecretT(t, cs, target).Data["GITHUB_TOKEN"]) != tokenB {
		t.Fatal("the Secret does not hold the new value")
	}
	if got := getDeployment(t, cs, ns, "bystander"); got.ResourceVersion != bystander.ResourceVersion {
		t.Fatal("the bystander changed")
	}
	// Only the annotation is owned by the rollout manager, so it cannot
	// drop fields another manager applied.
	owned := ""
	for _, mf := range got.ManagedFields {
		if mf.Manager == RolloutFieldManager && mf.Operation == metav1.ManagedFieldsOperationApply {
			owned = string(mf.FieldsV1.Raw)
		}
	}
	if want := `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:` + ChecksumAnnotation + `":{}}}}}}`; owned != want {
		t.Fatalf("rollout manager owns %s, want %s", owned, want)
	}
}

// TestApplyCreatesNamespaceAndEmptySecret: a consumer reading the Secret
// with envFrom cannot start without it, so it exists even with no values.
func TestApplyCreatesNamespaceAndEmptySecret(t *testing.T) {
	c := testcluster.Get(t)
	cs := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "secrets-fresh-" + time.Now().Format("150405")
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	target := Target{Namespace: ns, Name: "empty"}
	stored, err := Stored(ctx, c.RESTConfig(), target)
	if err != nil || stored != nil {
		t.Fatalf("Stored before = %v, %v", stored, err)
	}
	applied, err := Apply(ctx, c.RESTConfig(), &Set{Target: target, Readers: []string{ns + "/x"}})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !applied.Created || !applied.Changed || len(applied.Set.Entries) != 0 {
		t.Fatalf("Applied = %+v", applied)
	}
	s := getSecretT(t, cs, target)
	if len(s.Data) != 0 || s.Labels[managedByLabel] != "neuroscale" {
		t.Fatalf("Secret = %v %v", keys(s.Data), s.Labels)
	}
	rolls, err := Roll(ctx, c.RESTConfig(), tokenSet(target, ns+"/not-there", "ghp_"+body36))
	if err != nil || len(rolls) != 1 || rolls[0].Action != NotInstalled {
		t.Fatalf("Roll of a missing Deployment = %v, %v", rolls, err)
	}
	for range 2 { // the second time there is nothing to remove
		if err := Remove(ctx, c.RESTConfig(), target); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if stored, err := Stored(ctx, c.RESTConfig(), target); err != nil || stored != nil {
		t.Fatalf("Stored after Remove = %v, %v", stored, err)
	}
}

// TestMergeReadsWithoutWriting: the checksums `up` renders come from the
// merged content before anything is applied.
func TestMergeReadsWithoutWriting(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	ctx := context.Background()
	target := Target{Namespace: ns, Name: "s"}
	createSecret(t, cs, target, map[string]string{"GITHUB_TOKEN": "ghp_" + body36, "OTHER": "o-value"})
	before := getSecretT(t, cs, target).ResourceVersion
	set := tokenSet(target, ns+"/reader", "ghp_"+refresh76[:36])
	merged, err := Merge(ctx, c.RESTConfig(), set)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged.Names(), []string{"GITHUB_TOKEN", "OTHER"}) {
		t.Fatalf("merged names %v", merged.Names())
	}
	if e, _ := merged.Get("GITHUB_TOKEN"); !e.Value.Equal(set.Entries[0].Value) {
		t.Fatal("the new value did not win over the stored one")
	}
	if e, _ := merged.Get("OTHER"); e.Origin.Kind != OriginCluster || !slices.Equal(e.Consumers, []string{ns + "/reader"}) {
		t.Fatalf("kept entry %+v", e)
	}
	if Checksum(merged, ns+"/reader") == Checksum(set, ns+"/reader") {
		t.Fatal("the checksum ignores the kept key")
	}
	if getSecretT(t, cs, target).ResourceVersion != before {
		t.Fatal("Merge wrote the Secret")
	}
	names, err := Stored(ctx, c.RESTConfig(), target)
	if err != nil || !slices.Equal(names, []string{"GITHUB_TOKEN", "OTHER"}) {
		t.Fatalf("Stored = %v, %v", names, err)
	}
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// kwokExecAvailable reports whether the cluster's kwok simulates exec
// into pods from Exec objects (kwok.x-k8s.io/v1alpha1, --enable-crds=Exec).
func kwokExecAvailable(cs kubernetes.Interface) bool {
	rl, err := cs.Discovery().ServerResourcesForGroupVersion("kwok.x-k8s.io/v1alpha1")
	if err != nil {
		return false
	}
	for _, r := range rl.APIResources {
		if r.Name == "execs" {
			return true
		}
	}
	return false
}

// TestVerifyInContainer execs into the consumer's pods through the API
// server and kwok. kwok runs the command locally with the env of the
// pod's Exec object, so the test plays the kubelet: it fills that env
// from the Secret, as the kubelet does at container start.
func TestVerifyInContainer(t *testing.T) {
	c := testcluster.Get(t)
	cs := c.Client(t)
	if !kwokExecAvailable(cs) {
		t.Skip("the test cluster's kwok does not simulate exec (needs --enable-crds=...,Exec and kwok's Exec CRD); VerifyInContainer's script and parser are covered by TestLengthScript")
	}
	verifyScenario(t, c.RESTConfig(), cs, c.Namespace(t))
}

func verifyScenario(t *testing.T, cfg *rest.Config, cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Namespace: ns, Name: "app-secrets"}
	consumer := ns + "/reader"
	create(t, cs, ns, deployment("reader", target.Name))
	res, err := Store(ctx, cfg, tokenSet(target, consumer, testToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitRolledOut(ctx, cfg, consumer, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	execGVR := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
	// playKubelet gives every current pod of reader the env the kubelet
	// would: the Secret's keys (envFrom), with value standing in for
	// GITHUB_TOKEN.
	playKubelet := func(value string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=reader"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
				"metadata": map[string]any{"name": p.Name, "namespace": ns},
				"spec": map[string]any{"execs": []any{map[string]any{
					"local": map[string]any{"envs": []any{map[string]any{"name": "GITHUB_TOKEN", "value": value}}},
				}}},
			}}
			if _, err := dyn.Resource(execGVR).Namespace(ns).Apply(ctx, p.Name, obj, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// verify retries while kwok picks the Exec object up.
	verify := func(wantOK bool) (*Verification, error) {
		for {
			v, err := VerifyInContainer(ctx, cfg, res.Applied.Set, consumer)
			var ve *VerifyError
			if (wantOK && err == nil) || (!wantOK && errors.As(err, &ve)) {
				return v, err
			}
			select {
			case <-ctx.Done():
				t.Fatalf("VerifyInContainer: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}

	playKubelet(testToken)
	v, err := verify(true)
	if err != nil || len(v.Checks) != 1 {
		t.Fatalf("verify = %+v, %v", v, err)
	}
	if ch := v.Checks[0]; !ch.OK || !ch.Present || ch.Got != len(testToken) || ch.Variable != "GITHUB_TOKEN" {
		t.Fatalf("check = %+v", ch)
	}

	// A pod that kept an old, shorter value.
	playKubelet(testToken[:30])
	_, err = verify(false)
	assertNoLeak(t, err.Error(), testToken)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Failed[0].Got != 30 || ve.Failed[0].Want != len(testToken) {
		t.Fatalf("err = %v", err)
	}
}

// TestPrepare: what `up` calls before render, with a token the cluster
// already holds and none in the environment (dev).
func TestPrepare(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	ctx := context.Background()
	target := Target{Namespace: ns, Name: "s"}
	createSecret(t, cs, target, map[string]string{"GITHUB_TOKEN": testToken})
	r := load(t, header)
	term := &fakeTerminal{answer: "never"}
	p, err := Prepare(ctx, c.RESTConfig(), r, Options{LookupEnv: env(), Terminal: term, Target: &target})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 || len(p.Local.Entries) != 0 || term.asked != 0 {
		t.Fatalf("a stored token was reported missing or asked for: %v %v %d", p.Warnings, p.Local.Names(), term.asked)
	}
	consumer := "backstage/neuroscale-backstage"
	if got := p.Checksums[consumer]; got == "" || got != Checksum(p.Merged, consumer) {
		t.Fatalf("Checksums = %v", p.Checksums)
	}
	rv := getSecretT(t, cs, target).ResourceVersion
	if err := p.Apply(ctx, c.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	s := getSecretT(t, cs, target)
	if string(s.Data["GITHUB_TOKEN"]) != testToken {
		t.Fatal("Apply lost the stored token")
	}
	if s.ResourceVersion == rv {
		// The first apply takes the Secret over (labels, field owner); the
		// second must not write.
		t.Log("first apply wrote nothing")
	}
	rv = s.ResourceVersion
	if err := p.Apply(ctx, c.RESTConfig()); err != nil || getSecretT(t, cs, target).ResourceVersion != rv {
		t.Fatalf("a second Apply wrote the Secret: %v", err)
	}
	// The consumer is not installed in this namespace: a warning, no error.
	warns, err := p.Verify(ctx, c.RESTConfig(), nil)
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].Message, "could not check") {
		t.Fatalf("Verify = %v, %v", warns, err)
	}
}
