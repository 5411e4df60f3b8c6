package validate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// renderer renders configurations through a file:// mirror of the real
// upstream fixtures, sharing one download cache across a test.
type renderer struct {
	mirror, cache string
}

func newRenderer(t *testing.T) *renderer {
	t.Helper()
	abs, err := filepath.Abs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "charts")); err != nil {
		t.Skipf("upstream fixtures not available: %v", err)
	}
	return &renderer{mirror: "file://" + abs, cache: t.TempDir()}
}

// resolve reads a testdata config ("" for the bare profile).
func (rd *renderer) resolve(t *testing.T, file, profile string) *config.Resolved {
	t.Helper()
	p := &config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: profile}
	var doc *config.Document
	if file != "" {
		var err error
		if p, doc, err = config.ReadPlatform(filepath.Join("testdata", file), nil); err != nil {
			t.Fatal(err)
		}
	}
	p.Sources.Mirror, p.Sources.CacheDir = rd.mirror, rd.cache
	r, err := config.Resolve(p, doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("%s does not pass config validation: %v", file, err)
	}
	return r
}

// render renders r with only the named components (all when empty).
func (rd *renderer) render(t *testing.T, r *config.Resolved, only ...string) *render.Platform {
	t.Helper()
	if len(only) > 0 {
		for i := range r.Components {
			if !slices.Contains(only, r.Components[i].Name) {
				r.Components[i].Enabled = false
			}
		}
	}
	p, err := render.Render(context.Background(), r, render.Options{})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return p
}

// want is one expected error: its rule and, when the cause is in the
// config file, the line.
type want struct {
	id   string
	line int
}

func errorsOf(rep Report) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Severity == Error {
			out = append(out, f)
		}
	}
	return out
}

// checkErrors fails unless rep's errors are exactly wants (in any order).
func checkErrors(t *testing.T, rep Report, file string, wants []want) {
	t.Helper()
	got := errorsOf(rep)
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	if len(got) != len(wants) {
		t.Fatalf("%d errors, want %d:\n%s", len(got), len(wants), strings.Join(lines, "\n"))
	}
	used := make([]bool, len(got))
	for _, w := range wants {
		hit := false
		for i, f := range got {
			if used[i] || f.ID != w.id {
				continue
			}
			if w.line > 0 && !strings.HasPrefix(f.Position, fmt.Sprintf("testdata/%s:%d:", file, w.line)) {
				continue
			}
			used[i], hit = true, true
			break
		}
		if !hit {
			t.Errorf("no %s at line %d among:\n%s", w.id, w.line, strings.Join(lines, "\n"))
		}
	}
	for _, f := range got {
		if f.Message == "" || f.Fix == "" || f.Object == "" {
			t.Errorf("finding without object, message or fix: %s", f)
		}
	}
}

// TestBrokenConfigs renders each broken config of testdata/ and expects
// exactly its rule IDs, at the line in the file that causes them.
func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	rd := newRenderer(t)
	backstageOnly := []string{config.Backstage}
	for _, tc := range []struct {
		file string
		only []string
		want []want
		// fix must appear in the first error's fix, when set.
		fix string
	}{
		{"appconfig-too-high.yaml", backstageOnly, []want{{RuleValuesUnused, 9}}, "backstage.appConfig"},
		{"probes-too-high.yaml", backstageOnly, []want{{RuleValuesUnused, 9}}, "backstage.startupProbe"},
		{"probes-overridden.yaml", backstageOnly, []want{{RuleProbes, 10}}, "backstage.probes.startup"},
		{"template-no-allow.yaml", backstageOnly, []want{{RuleTemplateAllow, 12}}, "allow: [Template]"},
		{"template-allow-misindented.yaml", backstageOnly, []want{{RuleTemplateAllow, 12}}, "indented under the location"},
		{"dev-auth-401.yaml", backstageOnly, []want{{RuleAuth, 11}}, ""},
		{"prod-guest.yaml", backstageOnly, []want{{RuleAuth, 13}}, ""},
		{"prod-auth-policy-off.yaml", backstageOnly, []want{{RuleAuth, 12}}, ""},
		{"prod-oauth-literal.yaml", backstageOnly, []want{{RuleAuth, 12}, {RuleSecretLiteral, 14}}, ""},
		{"title-missing.yaml", backstageOnly, []want{{RuleTitle, 11}}, ""},
		{"baseurl-port.yaml", backstageOnly, []want{{RuleBaseURL, 6}, {RuleBaseURL, 6}}, "7010"},
		{"forward-port.yaml", backstageOnly, []want{{RuleBaseURL, 9}, {RuleBaseURL, 9}}, "localPort"},
		{"secret-literal.yaml", backstageOnly, []want{{RuleSecretLiteral, 7}}, "env:"},
		{"values-token.yaml", backstageOnly, []want{{RuleSecretLiteral, 11}}, ""},
		{"misspelt.yaml", backstageOnly, []want{{RuleValuesUnused, 11}}, "did you mean postgresql.primary.persistence?"},
		{"bitnami-image.yaml", backstageOnly, []want{{RuleImageUnserved, 8}}, "bitnamilegacy"},
		{"kourier-off.yaml", []string{config.KnativeServing}, []want{{RuleKnativeIngress, 7}}, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			r := rd.resolve(t, tc.file, "")
			rep := Run(r, rd.render(t, r, tc.only...))
			checkErrors(t, rep, tc.file, tc.want)
			if errs := errorsOf(rep); tc.fix != "" && len(errs) > 0 && !strings.Contains(errs[0].Fix, tc.fix) {
				t.Errorf("fix %q does not say %q", errs[0].Fix, tc.fix)
			}
		})
	}
}

// TestProfilesPass renders the whole platform for each profile, as
// `neuroscale validate` does, and expects no errors.
func TestProfilesPass(t *testing.T) {
	t.Parallel()
	rd := newRenderer(t)
	for _, tc := range []struct {
		profile, file string
		gitops        bool
	}{
		{"dev", "", false},
		{"prod", "", false},
		{"dev", "with-gitops.yaml", true},
	} {
		t.Run(tc.profile+"/"+tc.file, func(t *testing.T) {
			t.Parallel()
			r := rd.resolve(t, tc.file, tc.profile)
			rep := Run(r, rd.render(t, r))
			checkErrors(t, rep, tc.file, nil)
			ids := map[string]bool{}
			for _, f := range rep.Findings {
				ids[f.ID] = true
			}
			if ids[RuleGitOpsMissing] == tc.gitops {
				t.Errorf("gitops configured %v, NS-GITOPS-MISSING reported %v", tc.gitops, ids[RuleGitOpsMissing])
			}
			if ids[RuleSSARequired] {
				t.Error("validate reports NS-SSA-REQUIRED, which only matters to render's readers")
			}
			if !slices.ContainsFunc(ApplyNotes(rd.render(t, r)), func(f Finding) bool { return f.ID == RuleSSARequired }) {
				t.Error("the InferenceService CRD is larger than client-side apply allows, but ApplyNotes does not name it")
			}
		})
	}
}

// TestBrokenRenders breaks one rendered object at a time, the way an
// overlay or policy edit gone wrong would, and expects its rule.
func TestBrokenRenders(t *testing.T) {
	t.Parallel()
	rd := newRenderer(t)
	var once sync.Once
	var r *config.Resolved
	var base *render.Platform
	get := func(t *testing.T) (*config.Resolved, *render.Platform) {
		once.Do(func() {
			r = rd.resolve(t, "", "dev")
			base = rd.render(t, r)
		})
		if base == nil {
			t.Fatal("render failed in another subtest")
		}
		return r, deepCopy(base)
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, p *render.Platform)
		want   string
	}{
		{"ingress class istio", func(t *testing.T, p *render.Platform) {
			set(t, obj(t, p, config.KnativeServing, "ConfigMap", "config-network"), "istio.ingress.networking.knative.dev", "data", "ingress-class")
		}, RuleKnativeIngress},
		{"policy rule dropped by indentation", func(t *testing.T, p *render.Platform) {
			o := obj(t, p, config.Kyverno, "ClusterPolicy", "disallow-latest-image-tag")
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			set(t, o, rules[:1], "spec", "rules")
		}, RulePolicyDemo},
		{"policy only audits", func(t *testing.T, p *render.Platform) {
			o := obj(t, p, config.Kyverno, "ClusterPolicy", "disallow-root-containers")
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			_ = unstructured.SetNestedField(rules[0].(map[string]any), "Audit", "validate", "failureAction")
			set(t, o, rules, "spec", "rules")
		}, RulePolicyDemo},
		{"policy missing", func(t *testing.T, p *render.Platform) {
			for _, s := range p.Component(config.Kyverno).Steps {
				s.Objects = slices.DeleteFunc(s.Objects, func(o *unstructured.Unstructured) bool {
					return o.GetName() == "require-standard-labels-deployment"
				})
			}
		}, RulePolicyDemo},
		{"demo without cost-center", func(t *testing.T, p *render.Platform) {
			o := obj(t, p, config.Demo, "InferenceService", content.DemoName)
			unstructured.RemoveNestedField(o.Object, "metadata", "labels", "cost-center")
		}, RulePolicyDemo},
		{"skeleton spells costCenter", func(t *testing.T, p *render.Platform) {
			o := obj(t, p, config.Backstage, "ConfigMap", content.TemplatesConfigMap)
			skel, _, _ := unstructured.NestedString(o.Object, "data", "inference-service.yaml")
			set(t, o, strings.Replace(skel, "cost-center:", "costCenter:", 1), "data", "inference-service.yaml")
		}, RulePolicyTemplate},
		{"rendered probe differs", func(t *testing.T, p *render.Platform) {
			o := obj(t, p, config.Backstage, "Deployment", content.BackstageRelease)
			ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			_ = unstructured.SetNestedField(ctrs[0].(map[string]any), int64(2), "livenessProbe", "initialDelaySeconds")
			set(t, o, ctrs, "spec", "template", "spec", "containers")
		}, RuleProbes},
		{"no app-config at all", func(t *testing.T, p *render.Platform) {
			for _, s := range p.Component(config.Backstage).Steps {
				s.Objects = slices.DeleteFunc(s.Objects, func(o *unstructured.Unstructured) bool {
					return o.GetName() == content.BackstageRelease+"-app-config"
				})
			}
		}, RuleTitle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, p := get(t)
			tc.break_(t, p)
			rep := Run(r, p)
			errs := errorsOf(rep)
			if len(errs) == 0 || !slices.ContainsFunc(errs, func(f Finding) bool { return f.ID == tc.want }) {
				t.Errorf("no %s among %v", tc.want, errs)
			}
		})
	}
}

func TestSSAWarningOnlyForLargeObjects(t *testing.T) {
	t.Parallel()
	small := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "small", "namespace": "x"}}}
	large := small.DeepCopy()
	large.SetName("large")
	_ = unstructured.SetNestedField(large.Object, strings.Repeat("x", lastAppliedLimit), "data", "blob")
	p := &render.Platform{Components: []*render.Component{{Name: "x", Steps: []*render.Step{{Kind: render.StepManifest, Objects: []*unstructured.Unstructured{small, large}}}}}}
	notes := ApplyNotes(p)
	if len(notes) != 1 || notes[0].ID != RuleSSARequired || notes[0].Object != "ConfigMap x/large" || notes[0].Severity != Warning {
		t.Errorf("notes = %v, want one NS-SSA-REQUIRED note for ConfigMap x/large", notes)
	}
}

func TestFindingString(t *testing.T) {
	t.Parallel()
	f := Finding{ID: RuleTitle, Severity: Error, Object: "ConfigMap backstage/x", Path: "backstage.appConfig.app.title",
		Position: "neuroscale.yaml:3:5", Message: "app.title is missing", Fix: "set backstage.title"}
	want := "ERROR NS-BACKSTAGE-TITLE ConfigMap backstage/x: app.title is missing (values backstage.appConfig.app.title; at neuroscale.yaml:3:5) (fix: set backstage.title)"
	if got := f.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := f.Text(); got != strings.TrimPrefix(want, "ERROR ") {
		t.Errorf("Text() = %s, want the line without its severity", got)
	}
}

func deepCopy(p *render.Platform) *render.Platform {
	out := &render.Platform{Profile: p.Profile}
	for _, c := range p.Components {
		cc := *c
		cc.Steps = nil
		for _, s := range c.Steps {
			sc := *s
			sc.Objects = nil
			for _, o := range s.Objects {
				sc.Objects = append(sc.Objects, o.DeepCopy())
			}
			sc.Values = config.MergeValues(nil, s.Values)
			cc.Steps = append(cc.Steps, &sc)
		}
		out.Components = append(out.Components, &cc)
	}
	return out
}

func obj(t *testing.T, p *render.Platform, component, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range p.Component(component).Objects() {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in %s", kind, name, component)
	return nil
}

func set(t *testing.T, o *unstructured.Unstructured, v any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(o.Object, v, path...); err != nil {
		t.Fatal(err)
	}
}

func TestSecretLiteralInMirrorURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mirror string
		want   int
	}{
		{"https://user:s3cr3t-value@mirror.example/neuroscale", 1},
		{"https://mirror.example/neuroscale", 0},
		{"file:///srv/mirror", 0},
	} {
		r := &config.Resolved{Profile: "dev", Sources: config.Sources{Mirror: tc.mirror}}
		rep := Run(r, nil)
		if rep.Errors() != tc.want {
			t.Errorf("%s: %d errors, want %d: %v", tc.mirror, rep.Errors(), tc.want, rep.Findings)
		}
		for _, f := range rep.Findings {
			if strings.Contains(f.String(), "s3cr3t-value") {
				t.Errorf("the password is printed: %s", f)
			}
		}
	}
}
