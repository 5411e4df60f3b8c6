package render

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/goldentest"
)

// TestRenderCacheGivesTheSameRender checks that a render served from the
// render cache is byte-for-byte the render Helm and kustomize produce, and
// that a change of values or of a kustomization's templated input misses
// the cache.
func TestRenderCacheGivesTheSameRender(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	r := resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{})
	fresh, err := Render(context.Background(), r, Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "rendered")); err == nil {
		t.Fatal("NoCache wrote a render cache")
	}
	first := render(t, r)  // fills the cache
	second := render(t, r) // served from it
	entries, _ := filepath.Glob(filepath.Join(cache, "rendered", "*", "*.json"))
	if len(entries) == 0 {
		t.Fatal("no render cache entries written")
	}
	for _, p := range []*Platform{first, second} {
		for i, c := range p.Components {
			f := fresh.Components[i]
			if c.Digest != f.Digest {
				t.Errorf("%s: digest %s from the cache, %s from Helm", c.Name, c.Digest, f.Digest)
			}
			var a, b bytes.Buffer
			if err := WriteYAML(&a, f); err != nil {
				t.Fatal(err)
			}
			if err := WriteYAML(&b, c); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("%s: cached render differs from Helm's:\n%s", c.Name, goldentest.FirstDiff(a.String(), b.String()))
			}
		}
	}

	// WriteYAML kept each step's YAML; an entry changed on disk is not
	// used, the objects are encoded again.
	yamls, _ := filepath.Glob(filepath.Join(cache, "rendered", "*", "*."+yamlFormat+".yaml"))
	if len(yamls) == 0 {
		t.Fatal("no YAML cache entries written")
	}
	for _, y := range yamls {
		if err := os.WriteFile(y, []byte("---\nkind: Tampered\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range render(t, r).Components {
		var a, b bytes.Buffer
		if err := WriteYAML(&a, fresh.Components[i]); err != nil {
			t.Fatal(err)
		}
		if err := WriteYAML(&b, c); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: a changed YAML cache entry was written:\n%s", c.Name, goldentest.FirstDiff(a.String(), b.String()))
		}
	}

	changed := resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{
		Backstage: &config.Component{Values: map[string]any{"backstage": map[string]any{"replicas": 3}}},
	})
	p := render(t, changed, config.Backstage)
	if p.Component(config.Backstage).Digest == first.Component(config.Backstage).Digest {
		t.Error("changed values were served the old render from the cache")
	}

	// ArgoCD's gitops kustomization is templated from the config.
	gitops := func(repo string) *Component {
		t.Helper()
		r, err := config.Resolve(&config.Platform{
			APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: "dev",
			Sources: config.Sources{Mirror: catalogtest.MirrorURL(t), CacheDir: cache},
			GitOps:  &config.GitOps{Repo: repo},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return render(t, r, config.ArgoCD).Component(config.ArgoCD)
	}
	a, b := gitops("https://github.com/acme/models"), gitops("https://github.com/acme/other")
	if a.Digest == b.Digest || a.Digest == first.Component(config.ArgoCD).Digest {
		t.Error("a changed gitops repository was served the old kustomize build from the cache")
	}
}

// TestTamperedCacheEntryIsRenderedAgain: a cached render edited after it
// was written (an image moved to another registry) is not used; the chart
// is rendered again, with a warning naming the entry, and the entry is
// rewritten. An entry whose digest file is gone is treated the same.
func TestTamperedCacheEntryIsRenderedAgain(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	r := resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{})
	renderLogged := func() (*Component, string) {
		t.Helper()
		var logs bytes.Buffer
		p, err := Render(context.Background(), r, Options{Only: []string{config.CertManager}, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return p.Component(config.CertManager), logs.String()
	}
	first, _ := renderLogged()
	entries, _ := filepath.Glob(filepath.Join(cache, "rendered", "*", "*.json"))
	if len(entries) != 1 {
		t.Fatalf("want one cache entry for cert-manager, have %v", entries)
	}
	entry := entries[0]
	orig, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	const registry = "quay.io/jetstack/"
	if !bytes.Contains(orig, []byte(registry)) {
		t.Fatalf("the cert-manager render names no %s image", registry)
	}
	tampered := bytes.ReplaceAll(orig, []byte(registry), []byte("registry.example.com/evil/"))

	for _, tc := range []struct {
		name   string
		tamper func() error
	}{
		{"edited entry", func() error { return os.WriteFile(entry, tampered, 0o644) }},
		{"digest removed", func() error { return os.Remove(entry + digestSuffix) }},
	} {
		if err := tc.tamper(); err != nil {
			t.Fatal(err)
		}
		got, logs := renderLogged()
		if got.Digest != first.Digest {
			t.Errorf("%s: the render differs from the first one: the changed entry was used", tc.name)
		}
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "rendering it again") || !strings.Contains(logs, entry) {
			t.Errorf("%s: no warning naming %s; logs:\n%s", tc.name, entry, logs)
		}
		now, err := os.ReadFile(entry)
		if err != nil || !bytes.Equal(now, orig) {
			t.Errorf("%s: the entry was not rewritten with the fresh render (err %v)", tc.name, err)
		}
		if _, logs := renderLogged(); strings.Contains(logs, "level=WARN") {
			t.Errorf("%s: the rewritten entry still warns:\n%s", tc.name, logs)
		}
	}
}
