package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/goldentest"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
)

// resolved returns the configuration for profile with sources at mirror
// and a cache of its own.
func resolved(t testing.TB, profile, mirror, cache string, comps config.Components) *config.Resolved {
	t.Helper()
	r, err := config.Resolve(&config.Platform{
		APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: profile,
		Sources:    config.Sources{Mirror: mirror, CacheDir: cache},
		Components: comps,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t testing.TB, r *config.Resolved, only ...string) *Platform {
	t.Helper()
	p, err := Render(context.Background(), r, Options{Only: only})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kinds counts a step's objects by kind.
func kinds(objs []*unstructured.Unstructured) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o.GetKind()]++
	}
	return out
}

func step(t *testing.T, p *Platform, component, name string) *Step {
	t.Helper()
	c := p.Component(component)
	if c == nil {
		t.Fatalf("component %s not rendered", component)
	}
	for _, s := range c.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("component %s has no step %s", component, name)
	return nil
}

// TestRenderFromFileMirror renders the whole platform for both profiles
// from a file:// mirror of the real fixtures and checks its shape against
// the counts in the fixtures' SOURCES.md.
func TestRenderFromFileMirror(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	for _, profile := range []string{"dev", "prod"} {
		t.Run(profile, func(t *testing.T) {
			p := render(t, resolved(t, profile, catalogtest.MirrorURL(t), cache, config.Components{}))
			if p.Profile != profile {
				t.Errorf("profile %q", p.Profile)
			}
			var names []string
			for _, c := range p.Components {
				names = append(names, c.Name)
				if len(c.Digest) != 64 {
					t.Errorf("%s: digest %q", c.Name, c.Digest)
				}
			}
			if !slices.Equal(names, config.ComponentNames) {
				t.Errorf("components %v, want %v", names, config.ComponentNames)
			}
			if got := p.Component("kserve").Needs; !slices.Equal(got, []string{"cert-manager", "knative-serving", "kourier"}) {
				t.Errorf("kserve needs %v", got)
			}

			// Exact counts where upstream alone decides them (SOURCES.md §2.2, §3).
			exact := []struct {
				component, step, kind string
				n                     int
			}{
				{"cert-manager", "cert-manager", "CustomResourceDefinition", 6}, // crds.enabled=true from the profile
				{"cert-manager", "cert-manager", "Deployment", 3},
				{"knative-serving", "crds", "CustomResourceDefinition", 12},
				{"knative-serving", "core", "CustomResourceDefinition", 12},
				{"knative-serving", "core", "Deployment", 4},
				{"knative-serving", "core", "ConfigMap", 12},
				{"kourier", "kourier", "Deployment", 2},
				{"kourier", "kourier", "Namespace", 1},
				{"kserve", "kserve-crd", "CustomResourceDefinition", 6},
				{"kserve", "kserve", "Deployment", 1},
				{"kserve", "kserve", "Certificate", 1},
				{"argocd", "argocd", "CustomResourceDefinition", 3},
				{"kyverno", "kyverno", "CustomResourceDefinition", 22},
				{"kyverno", "policies", "ClusterPolicy", 5},
				{"backstage", "neuroscale-backstage", "Deployment", 1},
				{"backstage", "neuroscale-backstage", "StatefulSet", 1}, // postgresql.enabled=true from the profile
				{"demo", "demo", "InferenceService", 1},
			}
			for _, e := range exact {
				if got := kinds(step(t, p, e.component, e.step).Objects)[e.kind]; got != e.n {
					t.Errorf("%s/%s: %d %s, want %d", e.component, e.step, got, e.kind, e.n)
				}
			}
			if got := len(step(t, p, "kourier", "kourier").Objects); got != 13 {
				t.Errorf("kourier: %d objects, want the release's 13", got)
			}
			if got := len(step(t, p, "kserve", "kserve-crd").Objects); got != 6 {
				t.Errorf("kserve-crd: %d objects, want 6", got)
			}
			// Hooks are rendered, listed separately and left out of Resources.
			for _, h := range []struct {
				component, step string
				jobs            int
			}{{"cert-manager", "cert-manager", 1}, {"kyverno", "kyverno", 3}} {
				s := step(t, p, h.component, h.step)
				if got := kinds(s.Hooks)["Job"]; got != h.jobs {
					t.Errorf("%s: %d hook Jobs, want %d", h.step, got, h.jobs)
				}
				if len(s.Resources()) != len(s.Objects)-len(s.Hooks) {
					t.Errorf("%s: Resources() has %d objects, want %d", h.step, len(s.Resources()), len(s.Objects)-len(s.Hooks))
				}
				for _, o := range s.Resources() {
					if _, ok := o.GetAnnotations()["helm.sh/hook"]; ok {
						t.Errorf("%s: hook %s %s among Resources()", h.step, o.GetKind(), o.GetName())
					}
				}
			}
			// The names users type in the seed's runbook.
			for _, w := range []struct{ component, kind, ns, name string }{
				{"backstage", "Deployment", "backstage", "neuroscale-backstage"},
				{"backstage", "Service", "backstage", "neuroscale-backstage"},
				{"kserve", "Deployment", "kserve", "kserve-controller-manager"},
				{"kserve", "Service", "kserve", "kserve-webhook-server-service"},
				{"demo", "InferenceService", "default", "demo-iris-2"},
				{"argocd", "Service", "argocd", "argocd-server"},
			} {
				if find(p.Component(w.component).Objects(), w.kind, w.ns, w.name) == nil {
					t.Errorf("%s: no %s %s/%s", w.component, w.kind, w.ns, w.name)
				}
			}
			checkNamespaces(t, p)
			if s := step(t, p, "backstage", "neuroscale-backstage"); s.Kind != StepChart || s.ChartFile == "" || s.ChartName != "backstage" || s.ChartVersion != "2.8.2" || s.Values == nil {
				t.Errorf("backstage chart step: kind %s, chart %q from %q, version %q, values set %v", s.Kind, s.ChartName, s.ChartFile, s.ChartVersion, s.Values != nil)
			}
		})
	}
}

func find(objs []*unstructured.Unstructured, kind, ns, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
			return o
		}
	}
	return nil
}

// checkNamespaces: namespaced objects all have one, cluster-scoped none.
func checkNamespaces(t *testing.T, p *Platform) {
	t.Helper()
	scopes := scopesFrom(p)
	for _, c := range p.Components {
		for _, o := range c.Objects() {
			ns := Namespaced(o.GroupVersionKind().GroupKind(), scopes)
			if ns && o.GetNamespace() == "" {
				t.Errorf("%s: namespaced %s %s has no namespace", c.Name, o.GetKind(), o.GetName())
			}
			if !ns && o.GetNamespace() != "" {
				t.Errorf("%s: cluster-scoped %s %s has namespace %s", c.Name, o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	// Spot checks of what Helm leaves without a namespace.
	if o := find(p.Component("kyverno").Objects(), "ClusterPolicy", "", "disallow-latest-image-tag"); o == nil {
		t.Error("ClusterPolicy disallow-latest-image-tag missing or namespaced")
	}
	if o := find(p.Component("cert-manager").Objects(), "Deployment", "cert-manager", "cert-manager"); o == nil {
		t.Error("Deployment cert-manager/cert-manager missing")
	}
}

// TestRenderFromHTTPMirror renders through the real download path: an
// http://127.0.0.1 mirror serving the fixtures, digests checked. The result
// must equal the file:// render digest for digest, which also shows the
// digests are stable across runs and caches.
func TestRenderFromHTTPMirror(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	fs := http.FileServer(http.Dir(catalogtest.Fixtures(t)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	viaHTTP := render(t, resolved(t, "dev", srv.URL, t.TempDir(), config.Components{}))
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hits.Load(), int64(len(cat.Artifacts())); got != want {
		t.Errorf("%d requests to the mirror, want one per file (%d)", got, want)
	}
	viaFile := render(t, resolved(t, "dev", catalogtest.MirrorURL(t), t.TempDir(), config.Components{}))
	for _, c := range viaHTTP.Components {
		if d := viaFile.Component(c.Name).Digest; d != c.Digest {
			t.Errorf("%s: digest %s over http, %s from file", c.Name, c.Digest, d)
		}
	}
}

func TestCorruptedMirrorFailsTheRender(t *testing.T) {
	t.Parallel()
	fx := catalogtest.Fixtures(t)
	tree := t.TempDir()
	// Serve the fixtures, but with one byte of the backstage chart changed.
	const file = "charts/backstage-2.8.2.tgz"
	b, err := os.ReadFile(filepath.Join(fx, file))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.MkdirAll(filepath.Join(tree, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, file), b, 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/"+file, http.FileServer(http.Dir(tree)))
	mux.Handle("/", http.FileServer(http.Dir(fx)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	_, err = Render(context.Background(), resolved(t, "dev", srv.URL, t.TempDir(), config.Components{}), Options{})
	var de *sources.DigestError
	if !errors.As(err, &de) {
		t.Fatalf("error %v, want a digest mismatch", err)
	}
	for _, s := range []string{file, "6507db657dbbbb0636b57988ee502a470852f0236185385c000385bda02a6680", de.Actual} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

// TestDigest: equal inputs give equal digests; a value changes only its
// own component's digest.
func TestDigest(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	a := render(t, resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{}))
	b := render(t, resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{}))
	changed := render(t, resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{
		Backstage: &config.Component{Values: map[string]any{"backstage": map[string]any{"podAnnotations": map[string]any{"example.com/x": "y"}}}},
	}))
	for _, c := range a.Components {
		if d := b.Component(c.Name).Digest; d != c.Digest {
			t.Errorf("%s: digest changed between two identical renders: %s, %s", c.Name, c.Digest, d)
		}
		d := changed.Component(c.Name).Digest
		if c.Name == "backstage" && d == c.Digest {
			t.Error("backstage: a changed value left the digest alone")
		}
		if c.Name != "backstage" && d != c.Digest {
			t.Errorf("%s: digest changed by a backstage value", c.Name)
		}
	}
}

func TestDisabledComponentsAreRecorded(t *testing.T) {
	t.Parallel()
	off := false
	p := render(t, resolved(t, "dev", catalogtest.MirrorURL(t), t.TempDir(), config.Components{
		Demo:   &config.Component{Enabled: &off},
		ArgoCD: &config.Component{Enabled: &off},
	}), "argocd", "kserve", "demo")
	if !slices.Equal(p.Disabled, []string{"argocd", "demo"}) {
		t.Errorf("Disabled = %v", p.Disabled)
	}
	if p.Component("demo") != nil || p.Component("argocd") != nil {
		t.Error("a disabled component was rendered")
	}
	if p.Component("kserve") == nil {
		t.Error("kserve missing")
	}
}

func TestBadValuesSayWhereToLook(t *testing.T) {
	t.Parallel()
	_, err := Render(context.Background(), resolved(t, "dev", catalogtest.MirrorURL(t), t.TempDir(), config.Components{
		Backstage: &config.Component{Values: map[string]any{"backstage": map[string]any{"replicasCount": 2}}},
	}), Options{Only: []string{"backstage"}})
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want *render.Error", err)
	}
	if re.Component != "backstage" || re.Step != "neuroscale-backstage" {
		t.Errorf("error names %s/%s", re.Component, re.Step)
	}
	if !strings.Contains(err.Error(), "replicasCount") {
		t.Errorf("error %q does not name the key", err)
	}
	if !strings.Contains(re.Hint(), "components.backstage.values") {
		t.Errorf("hint %q", re.Hint())
	}
}

// TestGolden pins the rendered Backstage and KServe (the two components
// whose values the seed got wrong) as files; -update rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	for _, g := range []struct{ profile, component string }{
		{"dev", "backstage"}, {"prod", "backstage"}, {"dev", "kserve"},
	} {
		t.Run(g.profile+"-"+g.component, func(t *testing.T) {
			p := render(t, resolved(t, g.profile, catalogtest.MirrorURL(t), cache, config.Components{}), g.component)
			if len(p.Components) != 1 {
				t.Fatalf("rendered %d components, want only %s", len(p.Components), g.component)
			}
			var buf bytes.Buffer
			if err := WriteYAML(&buf, goldenView(t, p.Component(g.component))); err != nil {
				t.Fatal(err)
			}
			goldentest.Assert(t, filepath.Join("testdata", "golden", g.profile+"-"+g.component+".yaml"), buf.Bytes())
		})
	}
}

// goldenView is c with each CustomResourceDefinition cut down to its
// identity and a sha256 of its spec: the golden files pin every CRD
// without carrying megabytes of upstream schema in the repository.
func goldenView(t *testing.T, c *Component) *Component {
	t.Helper()
	cp := *c
	cp.Steps = nil
	for _, s := range c.Steps {
		sc := *s
		sc.Objects = nil
		for _, o := range s.Objects {
			if o.GetKind() == "CustomResourceDefinition" {
				spec, err := json.Marshal(o.Object["spec"])
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(spec)
				group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
				kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
				scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
				meta, _ := o.Object["metadata"].(map[string]any)
				stub := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": o.GetAPIVersion(), "kind": o.GetKind(),
					"metadata": map[string]any{"name": o.GetName(), "labels": meta["labels"], "annotations": meta["annotations"]},
					"spec":     map[string]any{"group": group, "kind": kind, "scope": scope, "sha256": hex.EncodeToString(sum[:])},
				}}
				o = stub
			}
			sc.Objects = append(sc.Objects, o)
		}
		cp.Steps = append(cp.Steps, &sc)
	}
	return &cp
}

// TestWrittenOutputHasNoSecretValues renders everything and proves that
// no Secret value, generated passwords included, reaches written output
// in any form.
func TestWrittenOutputHasNoSecretValues(t *testing.T) {
	t.Parallel()
	p := render(t, resolved(t, "prod", catalogtest.MirrorURL(t), t.TempDir(), config.Components{}))
	var out bytes.Buffer
	for _, c := range p.Components {
		if err := WriteYAML(&out, c); err != nil {
			t.Fatal(err)
		}
	}
	secrets := 0
	for _, c := range p.Components {
		for _, o := range c.Objects() {
			if o.GetKind() != "Secret" {
				continue
			}
			for _, field := range []string{"data", "stringData"} {
				m, _, _ := unstructured.NestedMap(o.Object, field)
				for k, v := range m {
					s, _ := v.(string)
					if len(s) < 6 {
						continue // too short to search for meaningfully
					}
					secrets++
					forms := []string{s}
					if dec, err := base64.StdEncoding.DecodeString(s); err == nil && len(dec) >= 6 {
						forms = append(forms, string(dec))
					}
					for _, f := range forms {
						if strings.Contains(out.String(), f) {
							t.Errorf("%s: value of %s/%s key %s appears in the output", c.Name, o.GetNamespace(), o.GetName(), k)
						}
					}
				}
			}
		}
	}
	if secrets == 0 {
		t.Fatal("no Secret values rendered; the test proves nothing")
	}
	if !strings.Contains(out.String(), "password: "+Redacted) {
		t.Error("the PostgreSQL password is not shown as redacted")
	}
	// Redaction must not touch what the engine applies.
	pg := find(p.Component("backstage").Objects(), "Secret", "backstage", "neuroscale-backstage-postgresql")
	if v, _, _ := unstructured.NestedString(pg.Object, "data", "password"); v == "" || v == Redacted {
		t.Errorf("the real Secret was changed: password %q", v)
	}
}
