// Package backstage_test judges the portal half of the Golden Path with
// the real Backstage backend (this directory's Node package, Backstage
// 1.45.0) running beside the test cluster (testcluster.WithReal): the
// neuroscale binary installs the platform, and verify and doctor run
// unchanged against real Backstage through the pod's port-forward and logs.
package backstage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/forward/forwardtest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
	"github.com/neuroscale-dev/neuroscale/internal/verify/verifytest"
)

func TestMain(m *testing.M) {
	os.Exit(testcluster.Main(m, testcluster.WithReal("backstage")))
}

// parts says, in every test's output, what is real and what is simulated.
const parts = `REAL: Backstage backend 1.45.0 (catalog, scaffolder + GitHub module, auth guest/GitHub, permission allow-all) with the app-config, Template files, env and Secret values the pod mounts; PostgreSQL 15 for the chart's PostgreSQL pod; kube-apiserver, etcd, controller-manager, scheduler; the neuroscale binary (up, verify, doctor).
SIMULATED: pods (kwok; the backend runs as a local process per Backstage pod), the pod's filesystem and network (test/k8senv/cmd/testcluster/real_pod.go), the demo model's predictor (verifytest.Predictor), GitHub (fake credentials; nothing calls it in a dry-run).`

// Fake credentials in the shapes neuroscale's secret checks accept.
const (
	fakeGitHubToken  = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	fakeClientID     = "Ov23liA1b2C3d4E5f6G7"
	fakeClientSecret = "0123456789abcdef0123456789abcdef01234567"
	appConfigMapName = content.BackstageRelease + "-app-config"
	appConfigKey     = "app-config.yaml"
	realBackendReady = 10 * time.Minute // a loaded 2-core CI machine
)

type platform struct {
	t    *testing.T
	c    *testcluster.Cluster
	bin  string
	dir  string
	kube kubernetes.Interface
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	t.Log(parts)
	c := testcluster.Get(t)
	dir := t.TempDir()
	bin := testcluster.BuildNeuroscale(t, dir)
	return &platform{t: t, c: c, bin: bin, dir: dir, kube: c.Client(t)}
}

// config writes neuroscale.yaml for profile on the test cluster, with the
// upstream fixtures as the mirror.
func (p *platform) config(profile string) string {
	p.t.Helper()
	return p.c.WriteConfig(p.t, filepath.Join(p.dir, profile+".yaml"), profile, "")
}

// run runs neuroscale with the fake credentials in its environment.
func (p *platform) run(cfg string, args ...string) (code int, stdout, stderr string) {
	p.t.Helper()
	cmd := exec.Command(p.bin, append(args, "-c", cfg)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir, "NO_COLOR=1",
		"GITHUB_TOKEN=" + fakeGitHubToken, "AUTH_GITHUB_CLIENT_ID=" + fakeClientID, "AUTH_GITHUB_CLIENT_SECRET=" + fakeClientSecret}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func (p *platform) up(cfg string) {
	p.t.Helper()
	code, out, errOut := p.run(cfg, "up", "--no-forward", "--no-verify")
	if code != 0 {
		p.t.Fatalf("neuroscale up: exit %d\nstderr:\n%s\nstdout:\n%s", code, tail(errOut, 6000), tail(out, 3000))
	}
}

// verify runs neuroscale verify -o json, waiting for the real backend to
// answer its readiness probe through the forward.
func (p *platform) verify(cfg string) (verify.Report, string) {
	p.t.Helper()
	code, out, errOut := p.run(cfg, "verify", "-o", "json", "--forward-wait", realBackendReady.String())
	var rep verify.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		p.t.Fatalf("verify (exit %d) printed no report: %v\nstdout:\n%s\nstderr:\n%s", code, err, out, tail(errOut, 4000))
	}
	var text strings.Builder
	rep.WriteText(&text)
	return rep, text.String()
}

// doctor runs neuroscale doctor -o json and returns its findings by ID.
func (p *platform) doctor(cfg string) (map[string]string, string) {
	p.t.Helper()
	_, out, errOut := p.run(cfg, "doctor", "-o", "json", "--forward-wait", realBackendReady.String())
	var rep struct {
		Findings []struct {
			ID       string `json:"id"`
			Evidence string `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		p.t.Fatalf("doctor printed no report: %v\nstdout:\n%s\nstderr:\n%s", err, out, tail(errOut, 4000))
	}
	found := map[string]string{}
	for _, f := range rep.Findings {
		found[f.ID] = f.Evidence
	}
	return found, out
}

// simulatePredictor serves the demo model's predictor pods from a local
// stand-in: only Backstage runs for real here.
func (p *platform) simulatePredictor() {
	pred := httptest.NewServer(verifytest.NewPredictor(content.DemoName, []int{1, 1}))
	p.t.Cleanup(pred.Close)
	forwardtest.Create(p.t, p.c, forwardtest.Workload{Namespace: content.DemoNamespace, Name: content.DemoName + "-predictor",
		ServicePort: 80, ContainerPort: 8080, Replicas: 1, Target: pred.Listener.Addr().String()})
}

// editAppConfig changes the app-config neuroscale rendered, in the cluster,
// and rolls Backstage out, as someone editing the ConfigMap by hand would:
// the bench then starts the real backend of the new pod with it.
func (p *platform) editAppConfig(edit func(cfg map[string]any)) {
	p.t.Helper()
	ctx := context.Background()
	cms := p.kube.CoreV1().ConfigMaps(content.BackstageNamespace)
	cm, err := cms.Get(ctx, appConfigMapName, metav1.GetOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[appConfigKey]), &cfg); err != nil {
		p.t.Fatal(err)
	}
	edit(cfg)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	cm.Data[appConfigKey] = string(b)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		p.t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := p.kube.AppsV1().Deployments(content.BackstageNamespace).Patch(ctx, content.BackstageRelease, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		p.t.Fatal(err)
	}
}

// editSkeleton changes the skeleton file in the Template ConfigMap
// neuroscale rendered, as someone editing it by hand would, and puts the
// rendered one back when the test ends. verify sends the ConfigMap's
// files to the scaffolder's dry-run, so the real backend renders the
// edited skeleton at once (no rollout).
func (p *platform) editSkeleton(t *testing.T, edit func(skeleton string) string) {
	t.Helper()
	ctx := context.Background()
	cms := p.kube.CoreV1().ConfigMaps(content.BackstageNamespace)
	cm, err := cms.Get(ctx, content.TemplatesConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const key = "inference-service.yaml"
	rendered, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", content.TemplatesConfigMap, key)
	}
	edited := edit(rendered)
	if edited == rendered {
		t.Fatalf("the edit changed nothing in the rendered skeleton:\n%s", rendered)
	}
	cm.Data[key] = edited
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm, err := cms.Get(ctx, content.TemplatesConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		cm.Data[key] = rendered
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	})
}

// eventually runs check until it returns "" or the budget is spent; it
// returns the last reason. The budget covers a new backend's start on a
// loaded machine, not a guess at how long a step takes.
func eventually(t *testing.T, budget time.Duration, check func() string) string {
	t.Helper()
	deadline := time.Now().Add(budget)
	for {
		why := check()
		if why == "" || time.Now().After(deadline) {
			return why
		}
		time.Sleep(5 * time.Second)
	}
}

// failsAndDoctorNames waits, within a new backend's start, until verify's
// check fails with want in its evidence or log lines (Backstage's own
// words), then has doctor name it as finding with doctorWant in its
// evidence.
func (p *platform) failsAndDoctorNames(t *testing.T, cfg, check, want, finding, doctorWant string) {
	t.Helper()
	var last string
	why := eventually(t, realBackendReady, func() string {
		rep, text := p.verify(cfg)
		last = text
		r := result(rep, check)
		if r.Status != verify.Fail || !strings.Contains(r.Evidence+" "+strings.Join(r.Lines, " "), want) {
			return fmt.Sprintf("%s: %s %d %s", check, r.Status, r.HTTPStatus, r.Evidence)
		}
		return ""
	})
	t.Logf("verify (real Backstage):\n%s", last)
	if why != "" {
		t.Fatalf("real Backstage's %q never reached verify: %s", want, why)
	}
	found, out := p.doctor(cfg)
	if ev, ok := found[finding]; !ok || !strings.Contains(ev, doctorWant) {
		t.Errorf("doctor did not name %s with Backstage's own message (%q); got %s", finding, doctorWant, out)
	}
}

func result(rep verify.Report, id string) verify.Result {
	for _, r := range rep.Results {
		if r.ID == id {
			return r
		}
	}
	return verify.Result{ID: id}
}

// TestRealBackstageGoldenPath: dev up, then verify passes against real
// Backstage; then the seed's failures, each made for real by editing the
// rendered app-config in the cluster and rolling Backstage out; then prod.
func TestRealBackstageGoldenPath(t *testing.T) {
	p := newPlatform(t)
	p.simulatePredictor()
	dev := p.config("dev")
	p.up(dev)

	t.Run("dev up then verify passes against real Backstage", func(t *testing.T) {
		rep, text := p.verify(dev)
		t.Logf("verify (real Backstage, simulated predictor):\n%s", text)
		for _, id := range []string{verify.CheckCatalogTemplate, verify.CheckScaffolderActions, verify.CheckGuestSignIn, verify.CheckScaffolderDryRun, verify.CheckCatalogLog, verify.CheckPredict} {
			if r := result(rep, id); r.Status != verify.Pass {
				t.Errorf("%s: %s (%s), want pass", id, r.Status, r.Evidence)
			}
		}
		if r := result(rep, verify.CheckScaffolderActions); r.HTTPStatus != 200 {
			t.Errorf("GET /api/scaffolder/v2/actions as a guest: %d, want 200", r.HTTPStatus)
		}
		if rep.Failed() {
			t.Errorf("verify failed")
		}
	})
	if t.Failed() {
		return
	}

	// Skeleton edits the real backend renders at once (verify sends the
	// Template ConfigMap's files to the scaffolder's dry-run).
	for _, tc := range []struct {
		name     string
		from, to string
		httpCode int    // of the dry-run; 0 for any
		want     string // in scaffolder-dry-run's failure
	}{
		{"a broken skeleton fails the real dry-run with fetch:template's own error",
			"${{ values.name }}", "${{ values.name | nosuchfilter }}", 0, "filter not found: nosuchfilter"},
		// storageUri is the one parameter only the skeleton uses (owner and
		// costCenter also reach the pull request's description).
		{"a Template parameter the skeleton does not use fails verify after the real render",
			"${{ values.storageUri }}", "gs://neuroscale-test/fixed-model", 200, "storageUri reach no rendered file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.editSkeleton(t, func(s string) string { return strings.Replace(s, tc.from, tc.to, 1) })
			rep, text := p.verify(dev)
			t.Logf("verify (real Backstage renders the edited skeleton):\n%s", text)
			r := result(rep, verify.CheckScaffolderDryRun)
			if r.Status != verify.Fail || tc.httpCode != 0 && r.HTTPStatus != tc.httpCode || !strings.Contains(r.Evidence, tc.want) {
				t.Errorf("scaffolder-dry-run: %s, HTTP %d (%s), want a failure with %q", r.Status, r.HTTPStatus, r.Evidence, tc.want)
			}
		})
	}

	t.Run("template location without allow gives Backstage's NotAllowedError; verify fails and doctor names it", func(t *testing.T) {
		// The rollout's new backend refuses the Template at once when
		// asked (verify has the catalog process each Location, POST
		// /api/catalog/validate-entity); the Location's recorded status
		// follows only at the catalog's next processing of it (every
		// 100-150 s). So the budget is the new backend's start.
		p.editAppConfig(func(cfg map[string]any) {
			locs := cfg["catalog"].(map[string]any)["locations"].([]any)
			delete(locs[0].(map[string]any), "rules")
		})
		p.failsAndDoctorNames(t, dev, verify.CheckCatalogLog, "NotAllowedError", "template-rejected", "is not of an allowed kind for that location")
	})

	t.Run("no dev auth policy gives a real 401 that doctor names", func(t *testing.T) {
		p.editAppConfig(func(cfg map[string]any) {
			delete(cfg["backend"].(map[string]any), "auth")
		})
		why := eventually(t, realBackendReady, func() string {
			rep, _ := p.verify(dev)
			if r := result(rep, verify.CheckScaffolderActions); r.HTTPStatus != 401 {
				return fmt.Sprintf("scaffolder-actions: %d %s", r.HTTPStatus, r.Evidence)
			}
			return ""
		})
		if why != "" {
			t.Fatalf("no 401 from the real scaffolder: %s", why)
		}
		found, out := p.doctor(dev)
		if _, ok := found["scaffolder-unauthorized"]; !ok {
			t.Errorf("doctor did not name the 401; got %s", out)
		}
	})

	t.Run("guest sign-in not allowed outside development: Backstage refuses the guest, verify fails and doctor names it", func(t *testing.T) {
		p.editAppConfig(func(cfg map[string]any) {
			guest := cfg["auth"].(map[string]any)["providers"].(map[string]any)["guest"].(map[string]any)
			delete(guest, "dangerouslyAllowOutsideDevelopment")
		})
		p.failsAndDoctorNames(t, dev, verify.CheckGuestSignIn, "dangerouslyAllowOutsideDevelopment", "guest-sign-in-refused", "dangerouslyAllowOutsideDevelopment")
	})

	t.Run("prod starts with the prod config and refuses a guest", func(t *testing.T) {
		prod := p.config("prod")
		p.up(prod)
		var rep verify.Report
		why := eventually(t, realBackendReady, func() string {
			var text string
			rep, text = p.verify(prod)
			r := result(rep, verify.CheckScaffolderActions)
			if r.HTTPStatus != 401 {
				return fmt.Sprintf("scaffolder-actions %d, want 401 for a guest:\n%s", r.HTTPStatus, text)
			}
			return ""
		})
		if why != "" {
			t.Fatal(why)
		}
		if r := result(rep, verify.CheckGuestSignIn); r.Status != verify.Skip {
			t.Errorf("guest-sign-in with GitHub sign-in: %s (%s), want skip", r.Status, r.Evidence)
		}
		logs, err := verify.DeploymentLogs(context.Background(), p.kube, content.BackstageNamespace, content.BackstageRelease)
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) == 0 {
			t.Fatal("no Backstage pods in prod")
		}
		for _, l := range logs {
			if l.Err != nil {
				t.Errorf("%s: no log: %v", l.Pod, l.Err)
				continue
			}
			for _, bad := range []string{"Invalid type in config", "Missing required config value", "Backend startup failed", "threw an error during startup"} {
				if strings.Contains(l.Text, bad) {
					t.Errorf("%s logged a config error (%q):\n%s", l.Pod, bad, tail(l.Text, 3000))
				}
			}
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
