package content_test

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// fixtures is where the real upstream release files live, next to the repo.
const fixtures = "../../../shared/fixtures/upstream/manifests"

// build builds one embedded kustomization as render does (render.ExpandDir
// for the embedded files), with the real upstream release files under
// upstream/.
func build(t *testing.T, r *config.Resolved, dir string, upstream map[string]string) resmap.ResMap {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := render.ExpandDir(r, dir, func(rel string, b []byte) error {
		return mem.WriteFile(path.Join("/", dir, rel), b)
	})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	for name, src := range upstream {
		b, err := os.ReadFile(filepath.Join(fixtures, src))
		if err != nil {
			t.Skipf("upstream fixtures not available: %v", err)
		}
		if err := mem.WriteFile(path.Join("/", dir, "upstream", name), b); err != nil {
			t.Fatal(err)
		}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/"+dir)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	return m
}

// find returns the object of kind and name in m, or fails the test.
func find(t *testing.T, m resmap.ResMap, kind, name string) map[string]any {
	t.Helper()
	for _, res := range m.Resources() {
		if res.GetKind() == kind && res.GetName() == name {
			obj, err := res.Map()
			if err != nil {
				t.Fatal(err)
			}
			return obj
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, m.Size())
	return nil
}

// dig returns the value at the dotted path in obj, or nil.
func dig(obj any, path ...string) any {
	for _, k := range path {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil
		}
		obj = m[k]
	}
	return obj
}

func TestKnativeCoreOverlay(t *testing.T) {
	t.Parallel()
	m := build(t, resolve(t, "dev", false), "components/knative-serving/core",
		map[string]string{"serving-core.yaml": "knative-serving-1.23.0/serving-core.yaml"})
	if got := dig(find(t, m, "ConfigMap", "config-network"), "data", "ingress-class"); got != content.KourierIngressClass {
		t.Errorf("config-network ingress-class = %v, want %s", got, content.KourierIngressClass)
	}
	if got, ok := dig(find(t, m, "ConfigMap", "config-domain"), "data").(map[string]any)[content.IngressDomain]; !ok || got != "" {
		t.Errorf("config-domain has no %q: \"\" entry", content.IngressDomain)
	}
	// The patch must not have dropped upstream's objects.
	if m.Size() != 59 {
		t.Errorf("core has %d objects, upstream has 59", m.Size())
	}
}

func TestUpstreamOnlyKustomizations(t *testing.T) {
	t.Parallel()
	r := resolve(t, "dev", false)
	for dir, up := range map[string]map[string]string{
		"components/knative-serving/crds": {"serving-crds.yaml": "knative-serving-1.23.0/serving-crds.yaml"},
		"components/kourier":              {"kourier.yaml": "net-kourier-1.23.0/kourier.yaml"},
	} {
		if m := build(t, r, dir, up); m.Size() == 0 {
			t.Errorf("%s built to nothing", dir)
		}
	}
}

func TestGitOpsApplicationSet(t *testing.T) {
	t.Parallel()
	if m := build(t, resolve(t, "dev", false), "components/argocd/gitops", nil); m.Size() != 0 {
		t.Errorf("without gitops the step renders %d objects, want none", m.Size())
	}
	m := build(t, resolve(t, "dev", true), "components/argocd/gitops", nil)
	as := find(t, m, "ApplicationSet", content.ApplicationSetName)
	if ns := dig(as, "metadata", "namespace"); ns != "argocd" {
		t.Errorf("namespace = %v", ns)
	}
	git := dig(as, "spec", "generators").([]any)[0].(map[string]any)["git"]
	if dig(git, "repoURL") != "https://github.com/acme/models" || dig(git, "revision") != "main" {
		t.Errorf("generator = %v", git)
	}
	if p := dig(git, "directories").([]any)[0]; dig(p, "path") != "apps/*" {
		t.Errorf("directories = %v", p)
	}
	if ns := dig(as, "spec", "template", "spec", "destination", "namespace"); ns != "default" {
		t.Errorf("destination namespace = %v", ns)
	}
	if n := dig(as, "spec", "template", "metadata", "name"); n != "{{.path.basename}}" {
		t.Errorf("application name = %v", n)
	}
}

func TestKyvernoPolicies(t *testing.T) {
	t.Parallel()
	m := build(t, resolve(t, "dev", false), "components/kyverno/policies", nil)
	for _, name := range []string{
		"require-standard-labels-inferenceservice", "require-standard-labels-deployment",
		"require-resource-requests-limits", "disallow-latest-image-tag", "disallow-root-containers",
	} {
		p := find(t, m, "ClusterPolicy", name)
		for _, rule := range dig(p, "spec", "rules").([]any) {
			if a := dig(rule, "validate", "failureAction"); a != "Enforce" {
				t.Errorf("%s rule %v: failureAction %v", name, dig(rule, "name"), a)
			}
		}
	}
	q := find(t, build(t, resolve(t, "dev", false), "components/kyverno/quota", nil), "ResourceQuota", "default-namespace-quota")
	if got := dig(q, "spec", "hard", "count/inferenceservices.serving.kserve.io"); got != "5" {
		t.Errorf("quota inferenceservices = %v", got)
	}
	l := find(t, m, "LimitRange", "default-namespace-limits")
	if got := dig(dig(l, "spec", "limits").([]any)[0], "min", "cpu"); got != "10m" {
		t.Errorf("limit range min cpu = %v: queue-proxy requests 25m", got)
	}
}

func TestBackstageTemplateConfigMap(t *testing.T) {
	t.Parallel()
	for _, gitops := range []bool{false, true} {
		m := build(t, resolve(t, "dev", gitops), "components/backstage/template", nil)
		cm := find(t, m, "ConfigMap", content.TemplatesConfigMap)
		if ns := dig(cm, "metadata", "namespace"); ns != content.BackstageNamespace {
			t.Errorf("namespace = %v", ns)
		}
		data := dig(cm, "data").(map[string]any)
		skel, _ := data["inference-service.yaml"].(string)
		for _, want := range []string{"owner: ${{ values.owner }}", "cost-center: ${{ values.costCenter }}", "name: ${{ values.name }}"} {
			if !strings.Contains(skel, want) {
				t.Errorf("skeleton lacks %q", want)
			}
		}
		var tpl map[string]any
		if err := yaml.Unmarshal([]byte(data["template.yaml"].(string)), &tpl); err != nil {
			t.Fatalf("template.yaml: %v", err)
		}
		if dig(tpl, "kind") != "Template" || dig(tpl, "apiVersion") != "scaffolder.backstage.io/v1beta3" || dig(tpl, "metadata", "name") != content.TemplateName {
			t.Errorf("template header = %v %v %v", dig(tpl, "apiVersion"), dig(tpl, "kind"), dig(tpl, "metadata", "name"))
		}
		steps := dig(tpl, "spec", "steps").([]any)
		if len(steps) != 2 || dig(steps[0], "action") != "fetch:template" || dig(steps[1], "action") != "publish:github:pull-request" {
			t.Fatalf("steps = %v", steps)
		}
		if b := dig(steps[1], "input", "branchName"); b != "model-${{ parameters.name }}" {
			t.Errorf("branchName = %v", b)
		}
		repo := dig(steps[1], "input", "repoUrl")
		if want := "${{ parameters.repoUrl }}"; gitops {
			want = "github.com?owner=acme&repo=models"
			if repo != want {
				t.Errorf("gitops: repoUrl = %v, want %s", repo, want)
			}
		} else if repo != want {
			t.Errorf("no gitops: repoUrl = %v, want %s", repo, want)
		}
		if u := dig(dig(tpl, "spec", "output", "links").([]any)[0], "url"); u != "${{ steps.publish.output.remoteUrl }}" {
			t.Errorf("output url = %v", u)
		}
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	m := build(t, resolve(t, "dev", false), "components/demo", nil)
	isvc := find(t, m, "InferenceService", content.DemoName)
	if dig(isvc, "metadata", "namespace") != content.DemoNamespace || dig(isvc, "metadata", "labels", "owner") == nil || dig(isvc, "metadata", "labels", "cost-center") == nil {
		t.Errorf("demo metadata = %v", dig(isvc, "metadata"))
	}
	rt := find(t, m, "ClusterServingRuntime", "kserve-sklearnserver")
	c := dig(rt, "spec", "containers").([]any)[0]
	if img, _ := dig(c, "image").(string); !strings.Contains(img, ":v") {
		t.Errorf("runtime image %q is not pinned", img)
	}
	if dig(c, "securityContext", "runAsNonRoot") != true {
		t.Error("runtime container may run as root")
	}
}

func resolve(t *testing.T, profile string, gitops bool) *config.Resolved {
	t.Helper()
	p := &config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: profile}
	if gitops {
		p.GitOps = &config.GitOps{Repo: "https://github.com/acme/models"}
	}
	r, err := config.Resolve(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
