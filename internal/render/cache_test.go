package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// TestChartCacheGivesTheSameRender checks that a render served from the
// chart cache is byte-for-byte the render Helm produces, and that a change
// of values misses the cache.
func TestChartCacheGivesTheSameRender(t *testing.T) {
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
				t.Errorf("%s: cached render differs from Helm's:\n%s", c.Name, firstDiff(a.String(), b.String()))
			}
		}
	}

	changed := resolved(t, "dev", catalogtest.MirrorURL(t), cache, config.Components{
		Backstage: &config.Component{Values: map[string]any{"backstage": map[string]any{"replicas": 3}}},
	})
	p := render(t, changed, config.Backstage)
	if p.Component(config.Backstage).Digest == first.Component(config.Backstage).Digest {
		t.Error("changed values were served the old render from the cache")
	}
}
