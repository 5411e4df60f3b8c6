package verify

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
	"github.com/neuroscale-dev/neuroscale/internal/forward/forwardtest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	"github.com/neuroscale-dev/neuroscale/internal/verify/verifytest"
)

// The simulator would make every Application Synced and Healthy; these
// tests set ArgoCD's status themselves.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, testcluster.WithSimulation(false))) }

// healthyLog is what a Backstage that ingested its catalog logs.
var healthyLog = []string{
	`{"level":"info","message":"Listening on :7007","service":"backstage"}`,
	`{"level":"info","message":"Processed 2 entities from location file:/app/templates/model-endpoint/template.yaml","plugin":"catalog"}`,
}

// platformState is what a case prepares: Backstage's and the model's
// answers, the logs (nil: none, as kwok pods have), the Applications'
// status, and whether Backstage has a pod at all.
type platformState struct {
	backstage   verifytest.BackstageState
	predictions []int
	logs        []string
	apps        map[string][2]string
	noBackstage bool
}

func healthy() platformState {
	return platformState{
		backstage: verifytest.BackstageState{Templates: []string{content.TemplateName}, DryRunFiles: map[string]string{
			"apps/NAME/inference-service.yaml": "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: NAME\n  namespace: default\nspec: {}\n",
		}},
		predictions: []int{1, 1},
		logs:        healthyLog,
		apps:        map[string][2]string{"demo-iris-2": {"Synced", "Healthy"}},
	}
}

// prepare builds the platform in its own namespace: Backstage and the
// predictor as Deployments whose pods forward to local stand-ins, reached
// through real supervised forwards, and ArgoCD objects.
func prepare(t *testing.T, st platformState) Options {
	t.Helper()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	bs := httptest.NewServer(verifytest.NewBackstage(st.backstage))
	t.Cleanup(bs.Close)
	pr := httptest.NewServer(verifytest.NewPredictor(content.DemoName, st.predictions))
	t.Cleanup(pr.Close)
	replicas := int32(1)
	if st.noBackstage {
		replicas = 0
	}
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: replicas, Target: bs.Listener.Addr().String()})
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.DemoName + "-predictor", ServicePort: 80, ContainerPort: 8080, Replicas: 1, Target: pr.Listener.Addr().String()})
	if st.logs != nil {
		verifytest.ServeLogs(t, c, ns, st.logs)
	}
	// The Template ConfigMap the dry-run sends as the Template's files.
	tplFiles := map[string]string{"template.yaml": "kind: Template\n", "inference-service.yaml": "metadata:\n  name: ${{ values.name }}\n"}
	if _, err := c.Client(t).CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: content.TemplatesConfigMap}, Data: tplFiles}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	verifytest.EnsureCRD(t, c, "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices")

	verifytest.EnsureCRD(t, c, "argoproj.io", "v1alpha1", "Application", "applications")
	verifytest.EnsureCRD(t, c, "argoproj.io", "v1alpha1", "ApplicationSet", "applicationsets")
	dyn := verifytest.Dynamic(t, c)
	ctx := context.Background()
	set := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": map[string]any{"name": content.ApplicationSetName}}}
	if _, err := dyn.Resource(ApplicationSetGVR).Namespace(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, s := range st.apps {
		app := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": map[string]any{"name": name},
			"status": map[string]any{
				"sync":   map[string]any{"status": s[0]},
				"health": map[string]any{"status": s[1]},
				"conditions": []any{map[string]any{"type": "SyncError",
					"message": `Internal error occurred: failed calling webhook "inferenceservice.kserve-webhook-server.validator.webhook": no endpoints available for service "kserve-webhook-server-service"`}},
			},
		}}
		if s[0] == "Synced" {
			delete(app.Object["status"].(map[string]any), "conditions")
		}
		if _, err := dyn.Resource(ApplicationGVR).Namespace(ns).Create(ctx, app, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	fwds := []config.Forward{
		{Name: "backstage", Namespace: ns, Service: content.BackstageRelease, RemotePort: 7007, Probe: content.BackstageReadinessPath, Scheme: "http"},
		{Name: "demo", Namespace: ns, Service: content.DemoName + "-predictor", RemotePort: 80, Probe: "/v1/models/" + content.DemoName, Scheme: "http"},
	}
	wait := 30 * time.Second
	if st.noBackstage {
		wait = 3 * time.Second
	}
	eps, stop, err := forward.Reach(ctx, forward.Options{REST: c.RESTConfig(), Forwards: fwds}, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	names := DefaultNames()
	names.BackstageNamespace, names.ArgoCDNamespace = ns, ns
	return Options{
		BackstageURL: eps[0].URL, BackstageErr: eps[0].Err,
		PredictorURL: eps[1].URL, PredictorErr: eps[1].Err,
		Kube: c.Client(t), Dynamic: dyn, GitOps: true, SignIn: SignInGuest, Names: names,
	}
}

func TestVerifyOnCluster(t *testing.T) {
	t.Parallel()
	type want map[string]Status
	allPass := want{CheckCatalogTemplate: Pass, CheckScaffolderActions: Pass, CheckGuestSignIn: Pass, CheckScaffolderDryRun: Pass, CheckCatalogLog: Pass, CheckArgoCDApps: Pass, CheckPredict: Pass}
	with := func(overrides want) want {
		w := want{}
		for k, v := range allPass {
			w[k] = v
		}
		for k, v := range overrides {
			w[k] = v
		}
		return w
	}
	tests := []struct {
		name     string
		mutate   func(*platformState)
		want     want
		evidence map[string]string
	}{
		{"healthy", func(*platformState) {}, allPass, map[string]string{
			CheckCatalogLog: "no NotAllowedError in neuroscale-backstage-",
			CheckPredict:    `{"predictions":[1,1]}`,
			CheckArgoCDApps: "1 Applications Synced/Healthy: demo-iris-2",
		}},
		{"template rejected by the catalog", func(s *platformState) {
			s.backstage.Templates = nil
			s.logs = append(s.logs, `{"level":"warn","message":"Failed to process location","location":{"type":"file","target":"/app/templates/model-endpoint/template.yaml"},"error":"NotAllowedError: Forbidden: entity of kind Template is not allowed from that location","plugin":"catalog"}`)
		}, with(want{CheckCatalogTemplate: Fail, CheckScaffolderDryRun: Fail, CheckCatalogLog: Fail}), map[string]string{
			CheckCatalogTemplate: "Template kserve-model-endpoint missing (templates: [])",
			CheckCatalogLog:      "the catalog rejected entities",
		}},
		{"scaffolder 401", func(s *platformState) { s.backstage.ActionsStatus = 401 }, with(want{CheckScaffolderActions: Fail}), map[string]string{
			CheckScaffolderActions: "→ 401: {\"error\":{\"message\":\"Missing credentials\"",
		}},
		{"broken skeleton", func(s *platformState) {
			s.backstage.DryRunError = "Failed to render template: (unknown path) [Line 3, Column 9] expected variable end"
		}, with(want{CheckScaffolderDryRun: Fail}), map[string]string{
			CheckScaffolderDryRun: "→ 500: Error: Failed to render template",
		}},
		{"skeleton ignores a parameter", func(s *platformState) {
			s.backstage.DryRunFiles = map[string]string{"apps/x/inference-service.yaml": "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: x\n  namespace: default\nspec: {}\n"}
		}, with(want{CheckScaffolderDryRun: Fail}), map[string]string{
			CheckScaffolderDryRun: "Template parameter(s) name reach no rendered file",
		}},
		{"pods without logs", func(s *platformState) { s.logs = nil }, with(want{CheckCatalogLog: Unknown}), map[string]string{
			CheckCatalogLog: "no logs available: neuroscale-backstage-",
		}},
		{"application out of sync", func(s *platformState) { s.apps["demo-iris-2"] = [2]string{"OutOfSync", "Degraded"} }, with(want{CheckArgoCDApps: Fail}), map[string]string{
			CheckArgoCDApps: `demo-iris-2 OutOfSync/Degraded: Internal error occurred: failed calling webhook`,
		}},
		{"wrong prediction", func(s *platformState) { s.predictions = []int{1, 0} }, with(want{CheckPredict: Fail}), map[string]string{
			CheckPredict: `{"predictions":[1,0]}, want {"predictions":[1,1]}`,
		}},
		{"model not loaded", func(s *platformState) { s.predictions = nil }, with(want{CheckPredict: Fail}), map[string]string{
			CheckPredict: "→ 503",
		}},
		{"no backstage pod", func(s *platformState) { s.noBackstage = true }, with(want{CheckCatalogTemplate: Fail, CheckScaffolderActions: Fail, CheckGuestSignIn: Fail, CheckScaffolderDryRun: Fail, CheckCatalogLog: Unknown}), map[string]string{
			CheckCatalogTemplate: "no backstage forward: forward backstage is waiting: Service ",
			CheckCatalogLog:      "no Backstage pods",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := healthy()
			tt.mutate(&st)
			o := prepare(t, st)
			rep := Run(context.Background(), o)
			var text strings.Builder
			rep.WriteText(&text)
			t.Logf("verify:\n%s", text.String())
			for _, r := range rep.Results {
				if r.Status != tt.want[r.ID] {
					t.Errorf("%s: %s (%s), want %s", r.ID, r.Status, r.Evidence, tt.want[r.ID])
				}
				if ev, ok := tt.evidence[r.ID]; ok && !strings.Contains(r.Evidence, ev) {
					t.Errorf("%s evidence %q, want it to contain %q", r.ID, r.Evidence, ev)
				}
			}
			if rep.Failed() != (tt.name != "healthy" && tt.name != "pods without logs") {
				t.Errorf("Failed() = %v", rep.Failed())
			}
		})
	}
}
