package content_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	goldenfile "github.com/neuroscale-dev/neuroscale/internal/goldentest"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Assert(t, filepath.Join("testdata", name), got)
}

func TestValuesGolden(t *testing.T) {
	t.Parallel()
	for _, prof := range []string{"dev", "prod"} {
		r := resolve(t, prof, false)
		for _, tc := range []struct{ component, chart string }{
			{config.CertManager, content.ChartCertManager},
			{config.KServe, content.ChartKServeCRD},
			{config.KServe, content.ChartKServeResources},
			{config.ArgoCD, content.ChartArgoCD},
			{config.Kyverno, content.ChartKyverno},
			{config.Backstage, content.ChartBackstage},
		} {
			v, err := content.Values(r, tc.component, tc.chart, content.Inputs{})
			if err != nil {
				t.Fatalf("%s/%s: %v", tc.component, tc.chart, err)
			}
			b, err := yaml.MarshalWithOptions(v, yaml.Indent(2), yaml.IndentSequence(true))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, prof+"-"+tc.chart+".yaml", b)
		}
	}
}

func TestValuesUnknownChart(t *testing.T) {
	t.Parallel()
	if _, err := content.Values(resolve(t, "dev", false), config.Demo, "nginx", content.Inputs{}); err == nil {
		t.Error("a chart neuroscale does not know got values")
	}
}

func TestValuesComponentOverrides(t *testing.T) {
	t.Parallel()
	p := &config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform}
	p.Components.Backstage = &config.Component{Values: map[string]any{
		"backstage": map[string]any{"replicas": 3, "appConfig": map[string]any{"app": map[string]any{"title": "Mine"}}},
	}}
	p.Components.KServe = &config.Component{Values: map[string]any{"kserve": map[string]any{"version": "x"}}}
	r, err := config.Resolve(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := content.Values(r, config.Backstage, content.ChartBackstage, content.Inputs{})
	if got := dig(v, "backstage", "replicas"); got != 3 {
		t.Errorf("user replicas lost: %v", got)
	}
	if got := dig(v, "backstage", "appConfig", "app", "title"); got != "Mine" {
		t.Errorf("user title lost: %v", got)
	}
	if got := dig(v, "backstage", "appConfig", "app", "baseUrl"); got != "http://localhost:7010" {
		t.Errorf("generated baseUrl lost in the merge: %v", got)
	}
	// kserve's values go to kserve-resources only.
	crd, _ := content.Values(r, config.KServe, content.ChartKServeCRD, content.Inputs{})
	if len(crd) != 0 {
		t.Errorf("kserve-crd got component values: %v", crd)
	}
	res, _ := content.Values(r, config.KServe, content.ChartKServeResources, content.Inputs{})
	if dig(res, "kserve", "version") != "x" || dig(res, "kserve", "controller", "gateway", "disableIstioVirtualHost") != true {
		t.Errorf("kserve-resources values = %v", res)
	}
}

func TestBackstageValues(t *testing.T) {
	t.Parallel()
	for _, prof := range []string{"dev", "prod"} {
		t.Run(prof, func(t *testing.T) {
			t.Parallel()
			r := resolve(t, prof, false)
			v, err := content.Values(r, config.Backstage, content.ChartBackstage, content.Inputs{SecretChecksums: map[string]string{"backstage/neuroscale-backstage": "abc123"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := v["appConfig"]; ok {
				t.Error("appConfig at the top level: the chart reads backstage.appConfig")
			}
			app := dig(v, "backstage", "appConfig")
			if dig(app, "app", "title") != "NeuroScale Platform" {
				t.Errorf("app.title = %v", dig(app, "app", "title"))
			}
			if dig(app, "app", "baseUrl") != r.Backstage.BaseURL || dig(app, "backend", "baseUrl") != r.Backstage.BaseURL {
				t.Errorf("base URLs = %v, %v", dig(app, "app", "baseUrl"), dig(app, "backend", "baseUrl"))
			}
			if dig(app, "backend", "listen", "port") != content.BackstagePort {
				t.Errorf("listen port = %v", dig(app, "backend", "listen", "port"))
			}
			loc := dig(app, "catalog", "locations").([]any)[0]
			if dig(loc, "type") != "file" || dig(loc, "target") != content.TemplatesMountPath+"/template.yaml" {
				t.Errorf("location = %v", loc)
			}
			allow := dig(dig(loc, "rules").([]any)[0], "allow").([]any)
			if len(allow) != 1 || allow[0] != "Template" {
				t.Errorf("location rules allow = %v", allow)
			}
			for key, path := range map[string]string{
				"startupProbe":   content.BackstageLivenessPath,
				"readinessProbe": content.BackstageReadinessPath,
				"livenessProbe":  content.BackstageLivenessPath,
			} {
				if _, ok := v[key]; ok {
					t.Errorf("%s at the top level: the chart reads backstage.%s", key, key)
				}
				p := dig(v, "backstage", key)
				if dig(p, "httpGet", "path") != path || dig(p, "httpGet", "port") != content.BackstagePort {
					t.Errorf("backstage.%s.httpGet = %v", key, dig(p, "httpGet"))
				}
			}
			want := r.Backstage.Probes.Startup
			if got := dig(v, "backstage", "startupProbe"); dig(got, "initialDelaySeconds") != want.InitialDelaySeconds || dig(got, "failureThreshold") != want.FailureThreshold {
				t.Errorf("startupProbe = %v, want %+v", got, *want)
			}
			if dig(v, "backstage", "replicas") != *r.Backstage.Replicas {
				t.Errorf("replicas = %v", dig(v, "backstage", "replicas"))
			}
			if dig(v, "postgresql", "auth", "secretKeys", "userPasswordKey") != "password" {
				t.Error("postgresql.auth.secretKeys.userPasswordKey is not password: the second upgrade fails")
			}
			if dig(v, "backstage", "podAnnotations", "neuroscale.dev/secret-checksum") != "abc123" {
				t.Errorf("podAnnotations = %v", dig(v, "backstage", "podAnnotations"))
			}
			env := dig(v, "backstage", "extraEnvVarsSecrets").([]any)
			if len(env) != 1 || env[0] != content.BackstageSecret {
				t.Errorf("extraEnvVarsSecrets = %v", env)
			}
			auth := dig(app, "auth")
			disabled := dig(app, "backend", "auth", "dangerouslyDisableDefaultAuthPolicy")
			guest := dig(auth, "providers", "guest")
			if prof == "dev" {
				if guest == nil || disabled != true {
					t.Errorf("dev: guest = %v, dev auth policy = %v: scaffolder calls would 401", guest, disabled)
				}
			} else {
				if guest != nil || disabled != nil {
					t.Errorf("prod: guest = %v, dangerouslyDisableDefaultAuthPolicy = %v", guest, disabled)
				}
				gh := dig(auth, "providers", "github", "production")
				if dig(auth, "environment") != "production" || dig(gh, "clientId") != "${AUTH_GITHUB_CLIENT_ID}" || dig(gh, "clientSecret") != "${AUTH_GITHUB_CLIENT_SECRET}" {
					t.Errorf("prod auth = %v", auth)
				}
				if dig(v, "backstage", "resources", "limits", "memory") != "1Gi" {
					t.Errorf("prod limits = %v", dig(v, "backstage", "resources", "limits"))
				}
			}
			checkNoSecrets(t, v)
		})
	}
}

// secretKey matches keys whose value would be a credential.
var secretKey = regexp.MustCompile(`(?i)(token|secret|password|clientid)$`)

// checkNoSecrets fails when a credential-like key holds anything but a
// ${VAR} reference: values end up in a ConfigMap and in rendered files.
func checkNoSecrets(t *testing.T, v any) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && secretKey.MatchString(k) {
					if !(strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}")) {
						t.Errorf("%s.%s holds a literal %d-character value, not a ${VAR} reference", path, k, len(s))
					}
				}
				walk(path+"."+k, c)
			}
		case []any:
			for _, c := range x {
				walk(path+"[]", c)
			}
		}
	}
	walk("", v)
}
