package bench

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// TestLaptopModelCoversThePlatform keeps laptop.yaml in step with the
// charts: every image the rendered platform runs (as up pre-pulls them)
// has a size with a source, and the model the bench writes for the test
// cluster carries every delay as a start time at laptop scale.
func TestLaptopModelCoversThePlatform(t *testing.T) {
	r := loadConfig(t, t.TempDir(), false)
	p, err := render.Render(context.Background(), r, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LaptopModel(DefaultDelays())
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Images []struct {
			Image  string `json:"image"`
			Bytes  int64  `json:"bytes"`
			Source string `json:"source"`
		} `json:"images"`
		Starts []struct {
			Selector string `json:"selector"`
			Start    string `json:"start"`
		} `json:"starts"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("model: %v\n%s", err, b)
	}
	sized := map[string]bool{}
	for _, img := range m.Images {
		sized[img.Image] = img.Bytes > 0 && strings.TrimSpace(img.Source) != ""
	}
	for _, img := range prepull.Images(p) {
		if !sized[img.Ref] {
			t.Errorf("%s (%s, %s) has no size with a source in laptop.yaml", img.Ref, img.Component, img.Source)
		}
	}
	starts := map[string]string{}
	for _, s := range m.Starts {
		starts[s.Selector] = s.Start
	}
	if got := starts["app.kubernetes.io/name=backstage"]; got != "1m30s" {
		t.Errorf("backstage starts after %q, want 1m30s (its 9 s delay at a tenth)", got)
	}
	if len(m.Starts) != len(DefaultDelays())+1 {
		t.Errorf("%d starts, want one per delay and the predictor's", len(m.Starts))
	}
}
