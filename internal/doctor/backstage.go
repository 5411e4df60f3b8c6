package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

// errNoBackstage says Backstage is not installed, so its checks do not
// apply.
var errNoBackstage = errors.New("Backstage is not installed")

func (e *env) backstageDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	n := e.Names
	d, err := e.Kube.AppsV1().Deployments(n.BackstageNamespace).Get(ctx, n.BackstageDeployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deployment %s/%s: %w", n.BackstageNamespace, n.BackstageDeployment, errNoBackstage)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", n.BackstageNamespace, n.BackstageDeployment, err)
	}
	return d, nil
}

// backstageBackend returns Backstage's Deployment and the container its
// backend runs in: the chart's backstage-backend, else the first.
func (e *env) backstageBackend(ctx context.Context) (*appsv1.Deployment, *corev1.Container, error) {
	d, err := e.backstageDeployment(ctx)
	if err != nil {
		return nil, nil, err
	}
	cs := d.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == defaultBackstageContainer {
			return d, &cs[i], nil
		}
	}
	if len(cs) == 0 {
		return nil, nil, fmt.Errorf("deployment %s/%s has no containers", d.Namespace, d.Name)
	}
	return d, &cs[0], nil
}

func checkTemplateRejected(ctx context.Context, e *env) ([]Finding, error) {
	n := e.Names
	logs, err := verify.DeploymentLogs(ctx, e.Kube, n.BackstageNamespace, n.BackstageDeployment)
	if err != nil {
		return nil, err
	}
	var lines, unreadable []string
	read := 0
	for _, l := range logs {
		if l.Err != nil {
			unreadable = append(unreadable, fmt.Sprintf("%s/%s: %v", l.Pod, l.Container, l.Err))
			continue
		}
		read++
		for _, line := range verify.CatalogRejections(l.Text) {
			lines = append(lines, l.Pod+": "+line)
		}
	}
	// Backstage 1.45's example backend keeps the rejection in the
	// Location entity's status and logs nothing: ask the catalog too.
	if e.BackstageURL != "" {
		client := e.HTTP
		if client == nil {
			client = http.DefaultClient
		}
		if rejected, err := verify.CatalogProcessingRejections(ctx, client, e.BackstageURL); err == nil {
			lines = append(lines, rejected...)
			read++
		}
	}
	if len(lines) > 0 {
		return []Finding{{
			ID:       IDTemplateRejected,
			Object:   object("Deployment", n.BackstageNamespace, n.BackstageDeployment),
			Message:  "Backstage's catalog rejected entities from a location (NotAllowedError): the Template does not appear in /create, and the UI says nothing",
			Fix:      "the location needs rules: [{allow: [Template]}] in app-config; neuroscale renders it, so run neuroscale up --reapply to restore the app-config, or fix the location you added",
			Evidence: firstN(lines, " | "),
		}}, nil
	}
	if read == 0 && len(unreadable) > 0 {
		return nil, fmt.Errorf("no logs available: %s", firstN(unreadable, "; "))
	}
	return nil, nil
}

func checkScaffolder(ctx context.Context, e *env) ([]Finding, error) {
	if e.BackstageURL == "" {
		if e.BackstageErr != nil {
			return nil, fmt.Errorf("no way to reach Backstage: %w", e.BackstageErr)
		}
		return nil, errors.New("no way to reach Backstage")
	}
	res := verify.ScaffolderActions(ctx, verify.Options{BackstageURL: e.BackstageURL, HTTP: e.HTTP})
	if res.HTTPStatus != http.StatusUnauthorized {
		if res.HTTPStatus == 0 && res.Status == verify.Fail {
			return nil, errors.New(res.Evidence)
		}
		return nil, nil
	}
	return []Finding{{
		ID:       IDScaffolderUnauthorized,
		Object:   object("Deployment", e.Names.BackstageNamespace, e.Names.BackstageDeployment),
		Message:  "the scaffolder's actions API answers 401, so the template's form renders blank",
		Fix:      res.Fix,
		Evidence: res.Evidence,
	}}, nil
}

// checkGuestSignIn finds Backstage refusing the guest sign-in the
// platform is configured for (verify's guest-sign-in check).
func checkGuestSignIn(ctx context.Context, e *env) ([]Finding, error) {
	if e.Config.Backstage.Auth != verify.SignInGuest {
		return nil, nil
	}
	if e.BackstageURL == "" {
		if e.BackstageErr != nil {
			return nil, fmt.Errorf("no way to reach Backstage: %w", e.BackstageErr)
		}
		return nil, errors.New("no way to reach Backstage")
	}
	res := verify.GuestSignIn(ctx, verify.Options{BackstageURL: e.BackstageURL, HTTP: e.HTTP, SignIn: verify.SignInGuest})
	switch {
	case res.Status != verify.Fail:
		return nil, nil
	case res.HTTPStatus == 0:
		return nil, errors.New(res.Evidence)
	}
	return []Finding{{
		ID:       IDGuestSignInRefused,
		Object:   object("Deployment", e.Names.BackstageNamespace, e.Names.BackstageDeployment),
		Message:  "Backstage refuses guest sign-in: the sign-in page offers \"Enter as guest\" and fails",
		Fix:      res.Fix,
		Evidence: res.Evidence,
	}}, nil
}

// appConfigs returns the YAML documents of the ConfigMaps mounted into
// Backstage's pods, by "ConfigMap name (key)", and the app-config set
// through APP_CONFIG_* environment variables.
func (e *env) appConfigs(ctx context.Context, d *appsv1.Deployment) (map[string]map[string]any, error) {
	names := map[string]bool{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			names[v.ConfigMap.Name] = true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					names[s.ConfigMap.Name] = true
				}
			}
		}
	}
	out := map[string]map[string]any{}
	for name := range names {
		cm, err := e.Kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get configmap %s/%s: %w", d.Namespace, name, err)
		}
		for key, data := range cm.Data {
			if ext := path.Ext(key); ext != ".yaml" && ext != ".yml" {
				continue
			}
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
				return nil, fmt.Errorf("configmap %s/%s key %s is not YAML: %w", d.Namespace, name, key, err)
			}
			out[fmt.Sprintf("ConfigMap %s (%s)", name, key)] = doc
		}
	}
	return out, nil
}

func checkAppTitle(ctx context.Context, e *env) ([]Finding, error) {
	d, c, err := e.backstageBackend(ctx)
	if err != nil {
		return nil, err
	}
	for _, env := range c.Env {
		// Backstage reads APP_CONFIG_app_title as app.title.
		if env.Name == "APP_CONFIG_app_title" && (env.Value != "" || env.ValueFrom != nil) {
			return nil, nil
		}
	}
	docs, err := e.appConfigs(ctx, d)
	if err != nil {
		return nil, err
	}
	var seen []string
	for name, doc := range docs {
		app, _ := doc["app"].(map[string]any)
		if title, _ := app["title"].(string); strings.TrimSpace(title) != "" {
			return nil, nil
		}
		if _, isAppConfig := doc["app"]; isAppConfig || doc["backend"] != nil {
			seen = append(seen, name)
		}
	}
	sort.Strings(seen)
	evidence := "no app-config ConfigMap is mounted into the container, and no APP_CONFIG_app_title"
	if len(seen) > 0 {
		evidence = "no app.title in " + strings.Join(seen, ", ") + ", and no APP_CONFIG_app_title"
	}
	return []Finding{{
		ID:       IDAppTitleMissing,
		Object:   object("Deployment", d.Namespace, d.Name),
		Message:  "Backstage's frontend config has no app.title: the frontend crashes with a blank white page (\"Missing required config value at 'app.title'\")",
		Fix:      "set backstage.title in neuroscale.yaml (the profiles set it) and run neuroscale up; do not edit the app-config ConfigMap by hand",
		Evidence: evidence,
	}}, nil
}

// Kubernetes' probe defaults, which a live Deployment carries for fields
// neuroscale leaves unset.
const (
	defaultPeriodSeconds    = config.ProbeDefaultPeriodSeconds
	defaultTimeoutSeconds   = config.ProbeDefaultTimeoutSeconds
	defaultFailureThreshold = config.ProbeDefaultFailureThreshold
)

func checkProbes(ctx context.Context, e *env) ([]Finding, error) {
	want := e.Config.Backstage.Probes
	if want == nil {
		return nil, nil
	}
	d, c, err := e.backstageBackend(ctx)
	if err != nil {
		return nil, err
	}
	diffs := append(append(
		probeDiffs("startupProbe", want.Startup, c.StartupProbe),
		probeDiffs("readinessProbe", want.Readiness, c.ReadinessProbe)...),
		probeDiffs("livenessProbe", want.Liveness, c.LivenessProbe)...)
	if len(diffs) == 0 {
		return nil, nil
	}
	return []Finding{{
		ID:       IDProbesDrift,
		Object:   object("Deployment", d.Namespace, d.Name),
		Message:  fmt.Sprintf("container %s's probes differ from what neuroscale renders from the %s profile and neuroscale.yaml: Backstage takes about 90 s to start, and short probes kill it in a loop (CrashLoopBackOff)", c.Name, e.Config.Profile),
		Fix:      "run neuroscale up --reapply to re-apply them; if a chart value set them, values one level off are ignored (the chart's container values live under backstage:), so set probes under backstage.probes in neuroscale.yaml instead",
		Evidence: strings.Join(diffs, "; "),
	}}, nil
}

// probeDiffs compares the timing fields of one live probe with what the
// configuration asks for; unset fields are compared with Kubernetes'
// defaults. A probe the configuration does not set is not compared.
func probeDiffs(name string, want *config.Probe, got *corev1.Probe) []string {
	if want == nil {
		return nil
	}
	if got == nil {
		return []string{name + " is missing"}
	}
	orDefault := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	fields := []struct {
		field     string
		want, got int
	}{
		{"initialDelaySeconds", want.InitialDelaySeconds, int(got.InitialDelaySeconds)},
		{"periodSeconds", orDefault(want.PeriodSeconds, defaultPeriodSeconds), orDefault(int(got.PeriodSeconds), defaultPeriodSeconds)},
		{"timeoutSeconds", orDefault(want.TimeoutSeconds, defaultTimeoutSeconds), orDefault(int(got.TimeoutSeconds), defaultTimeoutSeconds)},
		{"failureThreshold", orDefault(want.FailureThreshold, defaultFailureThreshold), orDefault(int(got.FailureThreshold), defaultFailureThreshold)},
	}
	var out []string
	for _, f := range fields {
		if f.want != f.got {
			out = append(out, fmt.Sprintf("%s.%s is %d, want %d", name, f.field, f.got, f.want))
		}
	}
	return out
}
