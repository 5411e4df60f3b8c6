package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// TestEmbeddedCatalogIsConsistent checks the catalog that ships: every
// component of the graph (stages/components), in its install order, with
// its declared needs.
func TestEmbeddedCatalogIsConsistent(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); !slices.Equal(got, config.ComponentNames) {
		t.Errorf("catalog components %v, want config.ComponentNames %v", got, config.ComponentNames)
	}
	for _, comp := range c.Components {
		if !slices.Equal(comp.Needs, components.Needs(comp.Name)) {
			t.Errorf("%s needs %v, the graph declares %v", comp.Name, comp.Needs, components.Needs(comp.Name))
		}
	}
}

// TestEmbeddedCatalogSteps pins the steps the content and the engine are
// written against: names, releases and values charts.
func TestEmbeddedCatalogSteps(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		config.CertManager:    {"chart cert-manager/cert-manager values"},
		config.KnativeServing: {"manifest crds components/knative-serving/crds serving-crds.yaml", "manifest core components/knative-serving/core serving-core.yaml"},
		config.Kourier:        {"manifest kourier components/kourier kourier.yaml"},
		config.KServe:         {"chart kserve-crd/kserve-crd", "chart kserve-resources/kserve values"},
		config.ArgoCD:         {"chart argo-cd/argocd values", "manifest gitops components/argocd/gitops"},
		config.Kyverno:        {"chart kyverno/kyverno values", "manifest policies components/kyverno/policies", "manifest quota components/kyverno/quota"},
		config.Backstage:      {"manifest template components/backstage/template", "chart backstage/neuroscale-backstage values"},
		config.Demo:           {"manifest demo components/demo"},
	}
	for name, steps := range want {
		comp := c.Component(name)
		var got []string
		for _, s := range comp.Steps {
			var d string
			if s.Chart != nil {
				d = "chart " + s.Chart.Name + "/" + s.Chart.Release
				if s.Chart.Values {
					d += " values"
				}
			} else {
				d = "manifest " + s.Manifest.Name + " " + s.Manifest.Dir
				for _, f := range s.Manifest.Files {
					d += " " + f.Name
				}
			}
			got = append(got, d)
		}
		if !slices.Equal(got, steps) {
			t.Errorf("%s steps:\n got %q\nwant %q", name, got, steps)
		}
	}
	if got := c.Dependents(config.KServe); !slices.Equal(got, []string{config.Kyverno, config.Demo}) {
		t.Errorf("Dependents(kserve) = %v", got)
	}
	if got := c.Dependents(config.KnativeServing); !slices.Equal(got, []string{config.Kourier, config.KServe, config.Kyverno, config.Demo}) {
		t.Errorf("Dependents(knative-serving) = %v", got)
	}
}

// TestCatalogAcceptsFixtureDigests: every fixture file's digest (the first
// column of SOURCES.md) must be accepted for the artifact at its path, so
// a mirror of the fixtures renders.
func TestCatalogAcceptsFixtureDigests(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(catalogtest.Fixtures(t), "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Artifacts() {
		var fixture string
		for _, line := range strings.Split(string(src), "\n") {
			cells := strings.Split(line, "|")
			if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`"+a.Path+"`") {
				fixture = strings.Trim(strings.TrimSpace(cells[2]), "`")
			}
		}
		if fixture == "" {
			t.Errorf("%s: not listed in SOURCES.md", a.Path)
			continue
		}
		if !slices.Contains(a.SHA256, fixture) {
			t.Errorf("%s: fixture digest %s not accepted (catalog lists %v)", a.Path, fixture, a.SHA256)
		}
	}
}

func TestCheckRejectsBrokenCatalogs(t *testing.T) {
	head := "apiVersion: neuroscale.dev/v1alpha1\nkind: Catalog\ncomponents:\n"
	ok := `  - name: knative-serving
    namespace: knative-serving
    version: "1"
    steps:
      - manifest: {name: core, dir: components/knative-serving/core}
`
	tests := []struct {
		name, body, want string
	}{
		{"valid", ok, ""},
		{"unknown key", strings.Replace(ok, "version:", "verison:", 1), `unknown key "verison"`},
		{"unknown component", strings.Replace(ok, "name: knative-serving", "name: istio", 1), `component "istio" is not one of`},
		{"out of order", `  - name: kourier
    namespace: k
    steps:
      - manifest: {name: k, dir: components/kourier}
` + ok, `component "knative-serving" comes before "kourier" in the graph`},
		{"both kinds", strings.Replace(ok, "dir: components/knative-serving/core}", "dir: components/knative-serving/core}\n        chart: {name: x, release: x, version: \"1\", url: \"https://x\", mirror: charts/x-1.tgz}", 1), "exactly one of chart or manifest"},
		{"bad digest", `  - name: cert-manager
    namespace: cert-manager
    version: "1"
    steps:
      - chart: {name: c, release: c, version: "1", repo: "https://r", mirror: charts/c-1.tgz, sha256: [ABC]}
`, `sha256 "ABC" is not 64 lowercase hex digits`},
		{"two sources", `  - name: cert-manager
    namespace: cert-manager
    version: "1"
    steps:
      - chart: {name: c, release: c, version: "1", repo: "https://r", oci: "oci://r/c", mirror: charts/c-1.tgz}
`, "exactly one of repo, oci or url"},
		{"mirror path", `  - name: cert-manager
    namespace: cert-manager
    version: "1"
    steps:
      - chart: {name: c, release: c, version: "1", repo: "https://r", mirror: c.tgz}
`, `want "charts/c-1.tgz"`},
		{"file mirror path", `  - name: kourier
    namespace: k
    version: "1"
    steps:
      - manifest:
          name: k
          dir: components/kourier
          files: [{name: k.yaml, url: "https://x/k.yaml", mirror: k.yaml}]
`, "must be manifests/<component>-<version>/k.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(head+tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
