package secrets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/cli"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// uniqueToken is a valid-shaped GitHub token no other text can contain by
// chance, so finding it (or its base64) anywhere is a leak.
func uniqueToken(t *testing.T) string {
	t.Helper()
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	tok := "ghp_" + string(b)
	if p := secrets.Check(secrets.KindGitHubToken, secrets.NewValue([]byte(tok))); len(p) > 0 {
		// A draw that trips a rule by chance: the test needs a valid one.
		return uniqueToken(t)
	}
	return tok
}

// run is one neuroscale invocation with every byte it wrote.
type run struct {
	args []string
	code int
	out  string
}

func (r run) String() string {
	return fmt.Sprintf("neuroscale %s (exit %d):\n%s", strings.Join(r.args, " "), r.code, r.out)
}

// neuroscale runs the CLI in-process with stdin and env, capturing stdout
// and stderr into one buffer.
func neuroscale(t *testing.T, stdin string, env []string, args ...string) run {
	t.Helper()
	var buf bytes.Buffer
	w := &lockedWriter{buf: &buf}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Execute(ctx, cli.Streams{In: strings.NewReader(stdin), Out: w, Err: w}, args, env)
	return run{args: args, code: code, out: w.String()}
}

// writeConfig writes a neuroscale.yaml for the existing cluster behind
// kubeconfig and returns its path.
func writeConfig(t *testing.T, kubeconfig, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "neuroscale.yaml")
	cfg := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\ncluster:\n  provider: existing\n  kubeconfig: " + kubeconfig + "\n" + extra
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noLeak fails when any run's output holds token in any encoding.
func noLeak(t *testing.T, token string, runs ...run) {
	t.Helper()
	forms := map[string]string{
		"plain":         token,
		"base64":        base64.StdEncoding.EncodeToString([]byte(token)),
		"base64 raw":    base64.RawStdEncoding.EncodeToString([]byte(token)),
		"base64 url":    base64.URLEncoding.EncodeToString([]byte(token)),
		"hex":           fmt.Sprintf("%x", token),
		"bytes":         strings.Trim(fmt.Sprint([]byte(token)), "[]"),
		"without ghp_":  token[4:],
		"quoted in Go":  fmt.Sprintf("%q", token),
		"first 20 only": token[:20],
	}
	for _, r := range runs {
		for name, f := range forms {
			if strings.Contains(r.out, f) {
				t.Errorf("the token (%s) leaked in %s", name, r)
			}
		}
	}
}

// TestNothingLeaks runs neuroscale the ways a user does, with real-shaped
// tokens in the environment and on standard input, and looks for them in
// every byte written and every rendered file: render, validate, status,
// the secret commands, up with debug logs (dev, then prod, then dev
// again), and runs that fail.
func TestNothingLeaks(t *testing.T) {
	c := testcluster.Get(t)
	token, token2 := uniqueToken(t), uniqueToken(t)
	clientSecret := strings.Repeat("0123456789abcdef", 3)[:40]
	t.Setenv("GITHUB_TOKEN", token) // for any code that reads the process env
	env := append(os.Environ(), "GITHUB_TOKEN="+token, "AUTH_GITHUB_CLIENT_ID=Ov23liA1b2C3d4E5f6G7", "AUTH_GITHUB_CLIENT_SECRET="+clientSecret)
	// The demo is off: its InferenceService races the quota Kyverno's
	// stage creates ("status unknown for quota"), which is not what this
	// test is about.
	cfg := writeConfig(t, c.Kubeconfig, "sources:\n  mirror: "+catalogtest.MirrorURL(t)+"\ncomponents:\n  demo: {enabled: false}\n")
	unreachable := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(unreachable, []byte(unreachableKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	badCfg := writeConfig(t, unreachable, "")
	renderDir := t.TempDir()

	var runs []run
	do := func(stdin string, args ...string) run {
		r := neuroscale(t, stdin, env, args...)
		runs = append(runs, r)
		return r
	}
	expect := func(r run, ok bool, want ...string) {
		t.Helper()
		if (r.code == 0) != ok {
			t.Errorf("want success=%v: %s", ok, r)
		}
		for _, w := range want {
			if !strings.Contains(r.out, w) {
				t.Errorf("want %q in %s", w, r)
			}
		}
	}

	do("", "render", "-c", cfg, "--output-dir", renderDir)
	do("", "render", "-c", cfg, "-v", "-o", "yaml")
	do("", "render", "-c", cfg, "--profile", "prod", "-o", "yaml")
	do("", "validate", "-c", cfg, "-v")
	do("", "validate", "-c", cfg, "--profile", "prod", "-o", "json")
	do("", "status", "-c", cfg, "-v")
	expect(do("", "secret", "check", "-c", cfg, "-v"), true, "GITHUB_TOKEN", "ok (40 characters, from env GITHUB_TOKEN)")
	expect(do("", "secret", "check", "-c", cfg, "-o", "json", "--profile", "prod"), true, `"length": 40`)

	// Bad values on standard input: each is refused, naming why.
	expect(do(`"`+token+`"`, "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v"), false, "secret GITHUB_TOKEN (from standard input): is wrapped in quotes")
	expect(do(token+" \n", "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v"), false, "secret GITHUB_TOKEN (from standard input): ends with a space")
	expect(do(token[:39], "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v"), false, "is 39 characters long")
	expect(do(token, "secret", "set", "GITHUB_TOKN", "-c", cfg), false, "secret GITHUB_TOKN is not declared", "Hint: known secrets: GITHUB_TOKEN")

	// Failing runs with good values: no cluster behind the kubeconfig.
	expect(do(token+"\n", "secret", "set", "GITHUB_TOKEN", "-c", badCfg, "-v"), false, "connection refused")
	expect(do("", "status", "-c", badCfg, "-v"), false)
	expect(do("", "up", "-c", badCfg, "-v", "--no-forward", "--no-verify", "--timeout", "20s"), false)

	// Stored before the platform exists, then the platform with debug logs.
	expect(do(token+"\n", "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v"), true,
		"Stored GITHUB_TOKEN (40 characters, from standard input) in Secret backstage/neuroscale-backstage-secrets.")
	expect(do(token+"\n", "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v", "-o", "json"), true, `"changed": false`)
	expect(do("", "up", "-c", cfg, "-v", "--no-forward", "--no-verify", "--timeout", "4m"), true)

	// A new value rolls the installed Backstage; --wait then checks inside
	// the container (kwok may not simulate exec: then it fails, quietly).
	expect(do(token2+"\n", "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v"), true,
		"backstage/neuroscale-backstage: restarting with the new value")
	do(token2+"\n", "secret", "set", "GITHUB_TOKEN", "-c", cfg, "-v", "--wait", "--timeout", "60s")

	// Switching profiles re-applies only what differs: Backstage.
	expect(do("", "up", "-c", cfg, "-v", "--no-forward", "--no-verify", "--timeout", "3m", "--profile", "prod"), true, "Applying: backstage (changed)", "profile prod")
	expect(do("", "status", "-c", cfg, "-v"), true, "Profile: prod")
	expect(do("", "up", "-c", cfg, "--no-forward", "--no-verify", "--timeout", "3m"), true, "Applying: backstage (changed)", "profile dev")
	expect(do("", "status", "-c", cfg, "-o", "json"), true, `"profile": "dev"`)

	rendered, err := os.ReadDir(renderDir)
	if err != nil || len(rendered) == 0 {
		t.Fatalf("render wrote nothing into %s: %v", renderDir, err)
	}
	for _, f := range rendered {
		b, err := os.ReadFile(filepath.Join(renderDir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{args: []string{"(rendered file " + f.Name() + ")"}, out: string(b)})
	}
	for _, v := range []string{token, token2, clientSecret} {
		noLeak(t, v, runs...)
	}

	s, err := c.Client(t).CoreV1().Secrets(content.BackstageNamespace).Get(context.Background(), content.BackstageSecret, metav1.GetOptions{})
	// The last up ran with GITHUB_TOKEN in its environment, the declared
	// source, so that value is what the Secret holds again: token2, set by
	// hand in between, was replaced by it.
	if err != nil || string(s.Data["GITHUB_TOKEN"]) != token {
		t.Fatalf("the token from the environment did not reach the Secret: %v", err)
	}
	if testing.Verbose() {
		for _, r := range runs {
			t.Log(r)
		}
	}
}

const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: gone
  context: {cluster: gone, user: u}
current-context: gone
users:
- name: u
  user: {token: not-a-secret}
`

// TestSecretSetRollsExactlyTheConsumer drives `neuroscale secret set`
// against the test cluster: the Secret is applied, only Backstage's pod
// template annotation changes, and a re-run with the same value changes
// nothing (every resourceVersion stays).
func TestSecretSetRollsExactlyTheConsumer(t *testing.T) {
	c := testcluster.Get(t)
	cs := c.Client(t)
	ctx := context.Background()
	ns := content.BackstageNamespace
	ensureNamespace(t, cs, ns)
	backstage := backstageDeployment(content.BackstageRelease, content.BackstageSecret)
	other := backstageDeployment("unrelated", "")
	for _, d := range []*appsv1.Deployment{backstage, other} {
		_ = cs.AppsV1().Deployments(ns).Delete(ctx, d.Name, metav1.DeleteOptions{})
		waitGone(t, cs, ns, d.Name)
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.AppsV1().Deployments(ns).Delete(context.Background(), d.Name, metav1.DeleteOptions{}) })
	}
	cfgRest := c.RESTConfig()
	for _, d := range []string{content.BackstageRelease, "unrelated"} {
		if err := secrets.WaitRolledOut(ctx, cfgRest, ns+"/"+d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, name := range []string{content.BackstageRelease, "unrelated"} {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The generation, not the resourceVersion: the Deployment
			// controller keeps writing status after a rollout, and only a
			// changed spec would roll pods.
			out["deployment/"+name] = strconv.FormatInt(d.Generation, 10)
			out["annotation/"+name] = d.Spec.Template.Annotations[secrets.ChecksumAnnotation]
		}
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, content.BackstageSecret, metav1.GetOptions{})
		if err == nil {
			out["secret"] = s.ResourceVersion
		}
		return out
	}

	cfg := writeConfig(t, c.Kubeconfig, "")
	token := uniqueToken(t)
	env := []string{"HOME=" + t.TempDir()}
	before := snapshot()
	first := neuroscale(t, token+"\n", env, "secret", "set", "GITHUB_TOKEN", "-c", cfg)
	if first.code != 0 {
		t.Fatalf("%s", first)
	}
	afterFirst := snapshot()
	if afterFirst["annotation/"+content.BackstageRelease] == "" || afterFirst["annotation/"+content.BackstageRelease] == before["annotation/"+content.BackstageRelease] {
		t.Fatalf("Backstage's checksum annotation did not change: %v -> %v", before, afterFirst)
	}
	if afterFirst["deployment/unrelated"] != before["deployment/unrelated"] || afterFirst["annotation/unrelated"] != "" {
		t.Fatalf("an unrelated Deployment changed: %v -> %v", before, afterFirst)
	}
	if err := secrets.WaitRolledOut(ctx, cfgRest, ns+"/"+content.BackstageRelease, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	settled := snapshot()
	second := neuroscale(t, token+"\n", env, "secret", "set", "GITHUB_TOKEN", "-c", cfg)
	if second.code != 0 || !strings.Contains(second.out, "nothing changed") || !strings.Contains(second.out, "already up to date") {
		t.Fatalf("%s", second)
	}
	if after := snapshot(); fmt.Sprint(after) != fmt.Sprint(settled) {
		t.Fatalf("an unchanged re-run changed objects: %v -> %v", settled, after)
	}
	noLeak(t, token, first, second)
}

func backstageDeployment(name, secret string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": name}
	c := corev1.Container{Name: "backstage", Image: "ghcr.io/backstage/backstage:1.0"}
	if secret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
			},
		},
	}
}

func ensureNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func waitGone(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Deployment %s/%s was not deleted", ns, name)
}

// lockedWriter lets stdout and stderr share one buffer safely: progress
// and logs are written from several goroutines.
type lockedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
