package validate

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// fixtures is the real upstream charts and manifests, next to the repo.
const fixtures = "../../../shared/fixtures/upstream"

func loadChart(t *testing.T, file string) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(filepath.Join(fixtures, "charts", file))
	if err != nil {
		t.Skipf("upstream fixtures not available: %v", err)
	}
	return ch
}

func TestChartSchemaUnused(t *testing.T) {
	t.Parallel()
	s := newChartSchema(loadChart(t, "backstage-2.8.2.tgz"))
	for _, tc := range []struct {
		name    string
		values  string
		unused  string // dotted path, "" for none
		belongs string
		closest string
	}{
		{name: "appConfig one level too high", values: "appConfig: {app: {title: x}}", unused: "appConfig", belongs: "backstage.appConfig"},
		{name: "probes one level too high", values: "startupProbe: {initialDelaySeconds: 120}", unused: "startupProbe", belongs: "backstage.startupProbe"},
		{name: "misspelt key", values: "backstage: {replica: 2}", unused: "backstage.replica", closest: "backstage.replicas"},
		{name: "free-form appConfig", values: "backstage: {appConfig: {anything: {at: all}}}"},
		{name: "probe fields the defaults do not list", values: "backstage: {startupProbe: {failureThreshold: 30}}"},
		{name: "subchart keys and condition", values: "postgresql: {enabled: true, auth: {secretKeys: {userPasswordKey: password}}, primary: {persistence: {enabled: false}}}"},
		{name: "global", values: "global: {imageRegistry: r.example}"},
		{name: "unknown subchart key", values: "postgresql: {primry: {}}", unused: "postgresql.primry", closest: "postgresql.primary"},
	} {
		u := s.unused(decode(t, tc.values))
		if tc.unused == "" {
			if len(u) != 0 {
				t.Errorf("%s: reported %v", tc.name, u)
			}
			continue
		}
		if len(u) != 1 || strings.Join(u[0].path, ".") != tc.unused {
			t.Errorf("%s: unused = %+v, want %s", tc.name, u, tc.unused)
			continue
		}
		if tc.belongs != "" && (len(u[0].belongs) == 0 || u[0].belongs[0] != tc.belongs) {
			t.Errorf("%s: belongs = %v, want %s", tc.name, u[0].belongs, tc.belongs)
		}
		if tc.closest != "" && u[0].closest != tc.closest {
			t.Errorf("%s: closest = %q, want %s", tc.name, u[0].closest, tc.closest)
		}
	}
}
