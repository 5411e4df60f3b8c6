package prepull

import (
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// TestPriorities checks each step's priority is its own declared wait and
// one step plus the largest of the steps that need it.
func TestPriorities(t *testing.T) {
	tests := []struct {
		name string
		g    map[string]stepNode
		want map[string]priority
	}{
		{"one step", map[string]stepNode{"a/a": {}}, map[string]priority{"a/a": {Steps: 1}}},
		{"chain", map[string]stepNode{
			"a/a": {},
			"b/b": {Needs: []string{"a/a"}},
			"c/c": {Needs: []string{"b/b"}},
		}, map[string]priority{"a/a": {Steps: 3}, "b/b": {Steps: 2}, "c/c": {Steps: 1}}},
		{"longest of two branches, waits added along it", map[string]stepNode{
			"crd/crd": {},
			"ctl/ctl": {Needs: []string{"crd/crd"}, Wait: 30},
			"pol/pol": {Needs: []string{"crd/crd"}},
			"app/app": {Needs: []string{"ctl/ctl", "pol/pol"}, Wait: 5},
		}, map[string]priority{"crd/crd": {Wait: 35, Steps: 3}, "ctl/ctl": {Wait: 35, Steps: 2}, "pol/pol": {Wait: 5, Steps: 2}, "app/app": {Wait: 5, Steps: 1}}},
		{"need on an unknown step ignored", map[string]stepNode{"a/a": {Needs: []string{"gone/x"}}}, map[string]priority{"a/a": {Steps: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := priorities(tt.g)
			delete(got, "gone/x")
			if !maps.Equal(got, tt.want) {
				t.Errorf("priorities = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPullOrder checks images are sorted by their step's priority, the
// most urgent first, ties kept in install order.
func TestPullOrder(t *testing.T) {
	prio := map[string]priority{
		"first/s":  {Steps: 1},            // starts at once, nothing after it
		"chain/s":  {Steps: 3},            // heads a chain of three
		"slow/s":   {Wait: 120, Steps: 1}, // declares a slow start
		"middle/s": {Steps: 2, Wait: 0},   // the chain's second
		"tie/s":    {Steps: 3},            // as chain, listed after it
	}
	imgs := []Image{
		{Ref: "first:1", Component: "first", Step: "s"},
		{Ref: "middle:1", Component: "middle", Step: "s"},
		{Ref: "chain:1", Component: "chain", Step: "s"},
		{Ref: "slow:1", Component: "slow", Step: "s"},
		{Ref: "tie:1", Component: "tie", Step: "s"},
		{Ref: "chain:2", Component: "chain", Step: "s"},
	}
	pullOrder(imgs, prio)
	want := []string{"slow:1", "chain:1", "tie:1", "chain:2", "middle:1", "first:1"}
	if got := Refs(imgs); !slices.Equal(got, want) {
		t.Errorf("pull order %q, want %q", got, want)
	}
}

// TestImagesInPullOrder renders nothing: it builds a platform of three
// components of the real graph that need nothing, and checks Images puts
// the one whose probes declare a slow start first, then the one with the
// longer chain of steps (Kyverno: its chart, policies, quota), and that an
// image two components run is pulled for the one that needs it sooner (in
// the place install order first names it).
func TestImagesInPullOrder(t *testing.T) {
	deploy := func(image string, delay int) *unstructured.Unstructured {
		c := map[string]any{"name": "c", "image": image}
		if delay > 0 {
			c["readinessProbe"] = map[string]any{"initialDelaySeconds": int64(delay)}
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": image},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{c}}}},
		}}
	}
	step := func(name string, objs ...*unstructured.Unstructured) *render.Step {
		return &render.Step{Name: name, Objects: objs}
	}
	p := &render.Platform{Components: []*render.Component{
		{Name: "argocd", Steps: []*render.Step{step("argocd", deploy("argocd:1", 0), deploy("shared:1", 0))}},
		{Name: "kyverno", Steps: []*render.Step{step("kyverno", deploy("kyverno:1", 0), deploy("shared:1", 0)), step("policies"), step("quota")}},
		{Name: "backstage", Steps: []*render.Step{step("backstage", deploy("backstage:1", 120))}},
	}}
	imgs := Images(p)
	if got, want := Refs(imgs), []string{"backstage:1", "shared:1", "kyverno:1", "argocd:1"}; !slices.Equal(got, want) {
		t.Errorf("Images in the order %q, want %q", got, want)
	}
	for _, img := range imgs {
		if img.Ref == "shared:1" && img.Component != "kyverno" {
			t.Errorf("shared:1 pulled for %s/%s, want kyverno/kyverno (the longer chain)", img.Component, img.Step)
		}
	}
}
