package validate

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// appConfigPath is where the Backstage chart reads Backstage's app-config.
const appConfigPath = "backstage.appConfig"

// backstageApp is Backstage's app-config as the chart renders it.
type backstageApp struct {
	cfg map[string]any
	// object names where it was read from.
	object string
}

// backstage runs the Backstage rules when Backstage is enabled.
func (c *check) backstage() {
	if c.component(config.Backstage) == nil {
		return
	}
	app, err := c.backstageApp()
	if err != nil {
		c.add(Finding{ID: RuleTitle, Severity: Error, Object: app.object, Path: appConfigPath,
			Message: fmt.Sprintf("the rendered app-config is not YAML: %v", err),
			Fix:     "check components.backstage.values.backstage.appConfig in neuroscale.yaml"})
		return
	}
	c.backstageTitle(app)
	c.backstageTemplateAllow(app)
	c.backstageAuth(app)
	c.backstageBaseURL(app)
	c.backstageProbes()
}

// backstageApp reads the app-config ConfigMap the chart renders: that is
// what Backstage reads, after every merge. The chart renders none when
// backstage.appConfig is empty.
func (c *check) backstageApp() (backstageApp, error) {
	name := content.BackstageRelease + "-app-config"
	cm := c.object(config.Backstage, "ConfigMap", name)
	if cm == nil {
		return backstageApp{cfg: map[string]any{}, object: "values " + appConfigPath}, nil
	}
	app := backstageApp{cfg: map[string]any{}, object: objectName(cm)}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "app-config.yaml")
	if err := yaml.Unmarshal([]byte(raw), &app.cfg); err != nil {
		return app, err
	}
	if app.cfg == nil {
		app.cfg = map[string]any{}
	}
	return app, nil
}

// appKeys is where an app-config key is written in the config file.
func appKeys(keys ...string) []string {
	return valuesKeys(config.Backstage, append([]string{"backstage", "appConfig"}, keys...)...)
}

func (c *check) backstageTitle(app backstageApp) {
	if strings.TrimSpace(str(dig(app.cfg, "app", "title"))) != "" {
		return
	}
	c.add(Finding{ID: RuleTitle, Severity: Error, Object: app.object, Path: appConfigPath + ".app.title",
		Position: c.pos(appKeys("app", "title"), appKeys("app"), appKeys(), []string{"backstage", "title"}),
		Message:  "app.title is missing: Backstage's frontend stops with \"Missing required config value at 'app.title'\" and shows a blank page",
		Fix:      "set backstage.title in neuroscale.yaml (neuroscale writes it to app.title) and do not override app in the values"})
}

// backstageTemplateAllow: the catalog accepts only Component, API and
// Location entities from a location unless told otherwise, and drops a
// Template with a NotAllowedError that shows only in the server log.
func (c *check) backstageTemplateAllow(app backstageApp) {
	path := appConfigPath + ".catalog.locations"
	globalAllows := allowsTemplate(dig(app.cfg, "catalog", "rules"))
	locs, _ := dig(app.cfg, "catalog", "locations").([]any)
	target := content.TemplatesMountPath + "/template.yaml"
	ours := false
	for i, l := range locs {
		t := str(dig(l, "target"))
		if t == target {
			ours = true
		}
		if t != target && !strings.Contains(strings.ToLower(t), "template") {
			continue
		}
		if globalAllows || allowsTemplate(dig(l, "rules")) {
			continue
		}
		msg := fmt.Sprintf("catalog location %s reads a Template but has no rules: [{allow: [Template]}]; Backstage drops the Template with NotAllowedError and /create stays empty", t)
		if dig(l, "allow") != nil {
			msg += "; its allow: is at the location's level, not under rules:"
		}
		c.add(Finding{ID: RuleTemplateAllow, Severity: Error, Object: app.object, Path: fmt.Sprintf("%s[%d].rules", path, i),
			Position: c.pos(appKeys("catalog", "locations"), appKeys("catalog")),
			Message:  msg,
			Fix:      "give the location rules: [{allow: [Template]}], indented under the location"})
	}
	if !ours {
		c.add(Finding{ID: RuleTemplateAllow, Severity: Error, Object: app.object, Path: path,
			Position: c.pos(appKeys("catalog", "locations"), appKeys("catalog")),
			Message:  fmt.Sprintf("no catalog location reads the %s Template (%s): the Golden Path is missing from /create", content.TemplateName, target),
			Fix:      "do not replace catalog.locations in the values; add locations with a values file instead of overriding the list"})
	}
}

// allowsTemplate reports whether rules (a catalog rules list) allow the
// Template kind.
func allowsTemplate(rules any) bool {
	list, _ := rules.([]any)
	for _, r := range list {
		allow, _ := dig(r, "allow").([]any)
		for _, k := range allow {
			if str(k) == "Template" {
				return true
			}
		}
	}
	return false
}

// envRef matches a whole-value ${VAR} reference.
var envRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

func (c *check) backstageAuth(app backstageApp) {
	disabled := dig(app.cfg, "backend", "auth", "dangerouslyDisableDefaultAuthPolicy") == true
	providers, _ := dig(app.cfg, "auth", "providers").(map[string]any)
	// guest: null in the values (to switch it off) leaves the key behind.
	guest := providers["guest"] != nil
	add := func(path, msg, fix string, pos ...[]string) {
		c.add(Finding{ID: RuleAuth, Severity: Error, Object: app.object, Path: appConfigPath + "." + path,
			Position: c.pos(append(pos, []string{"backstage", "auth"})...), Message: msg, Fix: fix})
	}
	if c.r.Backstage.Auth != "github" {
		if !guest && !disabled {
			add("auth.providers.guest",
				"neither guest sign-in nor the dev auth policy is configured: the scaffolder's own calls (GET /api/scaffolder/v2/actions) get 401 and the template form stays blank",
				"keep backstage.auth: guest (neuroscale sets auth.providers.guest and backend.auth.dangerouslyDisableDefaultAuthPolicy) and do not override auth in the values",
				appKeys("auth"), appKeys("backend", "auth"))
		}
		return
	}
	if disabled {
		add("backend.auth.dangerouslyDisableDefaultAuthPolicy",
			"the prod profile disables Backstage's default auth policy: every API is open to anyone who reaches it",
			"remove backend.auth.dangerouslyDisableDefaultAuthPolicy from the values",
			appKeys("backend", "auth", "dangerouslyDisableDefaultAuthPolicy"), appKeys("backend", "auth"))
	}
	if guest {
		add("auth.providers.guest",
			"the prod profile offers guest sign-in: anyone who reaches Backstage can open pull requests with the platform's token",
			"remove auth.providers.guest from the values; sign-in is GitHub OAuth",
			appKeys("auth", "providers", "guest"), appKeys("auth", "providers"))
	}
	env := str(dig(app.cfg, "auth", "environment"))
	gh := dig(providers, "github", env)
	for _, k := range []string{"clientId", "clientSecret"} {
		v := str(dig(gh, k))
		if envRef.MatchString(v) {
			continue
		}
		what := "is missing"
		if v != "" {
			what = "is not a ${VAR} reference"
		}
		add(fmt.Sprintf("auth.providers.github.%s.%s", env, k),
			fmt.Sprintf("GitHub OAuth %s for auth.environment %q %s: nobody can sign in", k, env, what),
			fmt.Sprintf("reference the Secret's variables: clientId: ${%s}, clientSecret: ${%s}", content.EnvAuthGitHubClientID, content.EnvAuthGitHubSecret),
			appKeys("auth", "providers", "github"), appKeys("auth"))
	}
}

// backstageForward returns the forward that reaches Backstage, or nil.
func (c *check) backstageForward() (int, *config.Forward) {
	for i := range c.r.Forwards {
		f := &c.r.Forwards[i]
		if f.Namespace == content.BackstageNamespace && f.Service == content.BackstageRelease {
			return i, f
		}
	}
	return -1, nil
}

// backstageBaseURL: the browser opens the forward's local port, and
// Backstage builds every link and CORS check from its base URLs.
func (c *check) backstageBaseURL(app backstageApp) {
	appURL := str(dig(app.cfg, "app", "baseUrl"))
	backendURL := str(dig(app.cfg, "backend", "baseUrl"))
	i, fwd := c.backstageForward()
	var fwdKeys []string
	if fwd != nil {
		fwdKeys = []string{"forwards", fmt.Sprintf("[%d]", i), "localPort"}
	}
	add := func(path, msg, fix string, pos ...[]string) {
		c.add(Finding{ID: RuleBaseURL, Severity: Error, Object: app.object, Path: appConfigPath + "." + path,
			Position: c.pos(append(pos, []string{"backstage", "baseUrl"})...), Message: msg, Fix: fix})
	}
	for _, u := range []struct{ key, val string }{{"app.baseUrl", appURL}, {"backend.baseUrl", backendURL}} {
		if u.val == "" {
			add(u.key, u.key+" is missing", "set backstage.baseUrl in neuroscale.yaml", appKeys(strings.Split(u.key, ".")...))
			continue
		}
		pu, err := url.Parse(u.val)
		if err != nil || pu.Host == "" {
			add(u.key, fmt.Sprintf("%s %q is not a URL", u.key, u.val), "write it like http://localhost:7010", appKeys(strings.Split(u.key, ".")...))
			continue
		}
		if !isLocalHost(pu.Hostname()) {
			// Reached through an ingress or a load balancer, not a forward.
			continue
		}
		if fwd == nil {
			add(u.key, fmt.Sprintf("%s %s is on this machine but no port-forward reaches svc/%s", u.key, u.val, content.BackstageRelease),
				fmt.Sprintf("add a forward to %s/%s port %d", content.BackstageNamespace, content.BackstageRelease, content.BackstagePort),
				appKeys(strings.Split(u.key, ".")...))
			continue
		}
		if port := urlPort(pu); port != fwd.LocalPort {
			add(u.key, fmt.Sprintf("%s %s uses port %d but Backstage is forwarded to local port %d: links, sign-in redirects and API calls go to the wrong port", u.key, u.val, port, fwd.LocalPort),
				fmt.Sprintf("set backstage.baseUrl to http://localhost:%d, or the %s forward's localPort to %d", fwd.LocalPort, fwd.Name, port),
				appKeys(strings.Split(u.key, ".")...), fwdKeys)
		}
	}
	if appURL != "" && backendURL != "" && strings.TrimSuffix(appURL, "/") != strings.TrimSuffix(backendURL, "/") {
		add("backend.baseUrl", fmt.Sprintf("app.baseUrl %s and backend.baseUrl %s differ, but one Backstage process serves both", appURL, backendURL),
			"set backstage.baseUrl and remove the base URLs from the values", appKeys("backend", "baseUrl"), appKeys("app", "baseUrl"))
	}
	if appURL != "" && !originAllowed(dig(app.cfg, "backend", "cors", "origin"), appURL) {
		add("backend.cors.origin", fmt.Sprintf("backend.cors.origin does not allow %s: the browser refuses the API's answers", appURL),
			"remove backend.cors from the values; neuroscale sets it from backstage.baseUrl", appKeys("backend", "cors"))
	}
}

func isLocalHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// urlPort is u's port, or the scheme's default.
func urlPort(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// originAllowed reports whether a cors origin setting (a string or a list)
// allows origin.
func originAllowed(setting any, origin string) bool {
	origin = strings.TrimSuffix(origin, "/")
	var list []any
	switch s := setting.(type) {
	case string:
		list = []any{s}
	case []any:
		list = s
	}
	for _, o := range list {
		if v := strings.TrimSuffix(str(o), "/"); v == origin || v == "*" {
			return true
		}
	}
	return false
}

// probeDefaults are Kubernetes' values for unset probe fields.
var probeDefaults = map[string]int64{"initialDelaySeconds": 0, "periodSeconds": config.ProbeDefaultPeriodSeconds,
	"timeoutSeconds": config.ProbeDefaultTimeoutSeconds, "failureThreshold": config.ProbeDefaultFailureThreshold}

// backstageProbes compares the rendered Deployment's probes with what the
// profile asks: values at the wrong level are ignored by the chart, and the
// seed platform's Backstage was killed by 2-second default probes.
func (c *check) backstageProbes() {
	want := c.r.Backstage.Probes
	if want == nil {
		return
	}
	d := c.object(config.Backstage, "Deployment", content.BackstageRelease)
	if d == nil {
		c.add(Finding{ID: RuleProbes, Severity: Error, Object: "Deployment " + content.BackstageNamespace + "/" + content.BackstageRelease,
			Message: "the Backstage chart rendered no Deployment " + content.BackstageRelease,
			Fix:     "check components.backstage.values"})
		return
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	var ctr map[string]any
	for _, x := range containers {
		if m, ok := x.(map[string]any); ok && (ctr == nil || m["name"] == "backstage-backend") {
			ctr = m
		}
	}
	for _, p := range []struct {
		kind, key, path string
		want            *config.Probe
	}{
		{"startup", "startupProbe", content.BackstageLivenessPath, want.Startup},
		{"readiness", "readinessProbe", content.BackstageReadinessPath, want.Readiness},
		{"liveness", "livenessProbe", content.BackstageLivenessPath, want.Liveness},
	} {
		if p.want == nil {
			continue
		}
		got, _ := ctr[p.key].(map[string]any)
		var diffs []string
		if got == nil {
			diffs = append(diffs, "it has none")
		} else {
			wantVals := map[string]int64{
				"initialDelaySeconds": int64(p.want.InitialDelaySeconds), "periodSeconds": int64(p.want.PeriodSeconds),
				"timeoutSeconds": int64(p.want.TimeoutSeconds), "failureThreshold": int64(p.want.FailureThreshold),
			}
			for _, f := range []string{"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"} {
				w := wantVals[f]
				if w == 0 {
					w = probeDefaults[f]
				}
				g, ok := toInt(got[f])
				if !ok {
					g = probeDefaults[f]
				}
				if g != w {
					diffs = append(diffs, fmt.Sprintf("%s %d, want %d", f, g, w))
				}
			}
			if hp := str(dig(got, "httpGet", "path")); hp != p.path {
				diffs = append(diffs, fmt.Sprintf("path %q, want %s", hp, p.path))
			}
			port := dig(got, "httpGet", "port")
			if n, ok := toInt(port); !(ok && n == content.BackstagePort) && port != "backend" {
				diffs = append(diffs, fmt.Sprintf("port %v, want %d", port, content.BackstagePort))
			}
		}
		if len(diffs) == 0 {
			continue
		}
		c.add(Finding{ID: RuleProbes, Severity: Error, Object: objectName(d), Path: "backstage." + p.key,
			Position: c.pos(
				valuesKeys(config.Backstage, "backstage", p.key),
				valuesKeys(config.Backstage, p.key),
				[]string{"backstage", "probes", p.kind}),
			Message: fmt.Sprintf("the rendered %s differs from the profile's: %s; Backstage needs about 90 s to start and default probes kill it in a loop", p.key, strings.Join(diffs, ", ")),
			Fix:     fmt.Sprintf("set backstage.probes.%s in neuroscale.yaml instead of probe values (the chart only reads them under backstage:)", p.kind)})
	}
}

// toInt converts the integer types YAML and JSON decoders produce.
func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case uint64:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	}
	return 0, false
}
