package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// Plan is what the baseline script installs and what the critical path is
// computed over: the platform as neuroscale renders it, written to files a
// shell script can hand to helm and kubectl.
type Plan struct {
	// Dir holds install.tsv, render.tsv and the files they name.
	Dir string `json:"dir"`
	// Components are the enabled components in catalog (install) order.
	Components []PlanComponent `json:"components"`
}

// PlanComponent is one component of the plan.
type PlanComponent struct {
	Name string `json:"name"`
	// Needs are the enabled components it needs, as stages.Up declares
	// them: the edges of the critical path.
	Needs []string `json:"needs,omitempty"`
}

// Needs returns the dependency graph of p by component name.
func (p *Plan) Needs() map[string][]string {
	out := make(map[string][]string, len(p.Components))
	for _, c := range p.Components {
		out[c.Name] = c.Needs
	}
	return out
}

// Names returns the components' names in install order.
func (p *Plan) Names() []string {
	out := make([]string, len(p.Components))
	for i, c := range p.Components {
		out[i] = c.Name
	}
	return out
}

// LoadPlan reads the plan.json that WritePlan wrote into dir.
func LoadPlan(dir string) (*Plan, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode plan %s: %w", dir, err)
	}
	return &p, nil
}

// WritePlan renders the platform for r with internal/render, the code
// `neuroscale up` and `neuroscale render` use, and writes into dir:
//
//   - install.tsv, the baseline's install script in data form, one
//     instruction per line (see baseline.sh): a component header, then per
//     step either a Helm release (chart .tgz from the cache and the exact
//     merged values neuroscale passes to the Helm SDK) or a manifest file
//     (the step's rendered objects, for server-side apply) followed by what
//     a careful script waits for (CRDs Established, workload rollouts,
//     InferenceServices Ready);
//   - render.tsv, the same inputs for `helm template` and `kustomize
//     build`: the charts with their values, and each kustomization
//     materialised on disk (templates executed, upstream files in place);
//   - plan.json, the components and their needs.
//
// Writing the values neuroscale computed, rather than a second copy of
// them, is what makes the baseline install the same platform.
func WritePlan(ctx context.Context, r *config.Resolved, dir string) (*Plan, error) {
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	p, err := render.Render(ctx, r, render.Options{})
	if err != nil {
		return nil, fmt.Errorf("render the platform: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plan dir: %w", err)
	}
	plan := &Plan{Dir: dir}
	var install, rend strings.Builder
	enabled := map[string]bool{}
	for _, c := range p.Components {
		enabled[c.Name] = true
	}
	for ci, c := range p.Components {
		cc := catalogComponent(cat, c.Name)
		if cc == nil || len(cc.Steps) != len(c.Steps) {
			return nil, fmt.Errorf("component %s: rendered steps do not match the catalog", c.Name)
		}
		pc := PlanComponent{Name: c.Name}
		for _, n := range c.Needs {
			if enabled[n] {
				pc.Needs = append(pc.Needs, n)
			}
		}
		plan.Components = append(plan.Components, pc)
		fmt.Fprintf(&install, "component\t%s\n", c.Name)
		for si, s := range c.Steps {
			base := fmt.Sprintf("%02d-%s-%02d-%s", ci, c.Name, si, s.Name)
			cs := cc.Steps[si]
			switch s.Kind {
			case render.StepChart:
				tgz := filepath.Join(r.Sources.CacheDir, filepath.FromSlash(cs.Chart.Mirror))
				values := filepath.Join(dir, base+".values.yaml")
				if err := writeYAML(values, s.Values); err != nil {
					return nil, err
				}
				fmt.Fprintf(&install, "chart\t%s\t%s\t%s\t%s\n", s.Name, s.Namespace, tgz, values)
				fmt.Fprintf(&rend, "template\t%s\t%s\t%s\t%s\n", s.Name, s.Namespace, tgz, values)
			case render.StepManifest:
				if len(s.Objects) == 0 {
					continue // e.g. ArgoCD's gitops step without a gitops block
				}
				file := filepath.Join(dir, base+".yaml")
				if err := writeObjects(file, s.Objects); err != nil {
					return nil, err
				}
				fmt.Fprintf(&install, "manifest\t%s\n", file)
				writeWaits(&install, s.Objects)
				kdir := filepath.Join(dir, "kustomize", filepath.FromSlash(cs.Manifest.Dir))
				if err := materialise(r, cs.Manifest, kdir); err != nil {
					return nil, err
				}
				fmt.Fprintf(&rend, "kustomize\t%s\n", kdir)
			}
			// neuroscale's secrets hook applies the Backstage Secret right
			// before the chart that reads it; the script does the same,
			// after the step that creates the namespace.
			if c.Name == config.Backstage && si+1 < len(c.Steps) && c.Steps[si+1].Kind == render.StepChart {
				secret := filepath.Join(dir, base+".secret.yaml")
				if err := writeObjects(secret, []*unstructured.Unstructured{backstageSecret(c.Namespace)}); err != nil {
					return nil, err
				}
				fmt.Fprintf(&install, "manifest\t%s\n", secret)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "install.tsv"), []byte(install.String()), 0o644); err != nil {
		return nil, fmt.Errorf("write install plan: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "render.tsv"), []byte(rend.String()), 0o644); err != nil {
		return nil, fmt.Errorf("write render plan: %w", err)
	}
	b, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write plan: %w", err)
	}
	return plan, nil
}

func catalogComponent(cat *catalog.Catalog, name string) *catalog.Component {
	for i := range cat.Components {
		if cat.Components[i].Name == name {
			return &cat.Components[i]
		}
	}
	return nil
}

// backstageSecret is the Secret Backstage's pod reads, with an empty
// GITHUB_TOKEN as neuroscale's dev profile stores it when the token is not
// set: the same one object the engine's secrets hook applies.
func backstageSecret(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "neuroscale-backstage-secrets", "namespace": ns},
		"type":       "Opaque",
		"stringData": map[string]any{"GITHUB_TOKEN": ""},
	}}
}

// writeWaits appends what the script waits for after applying objs: the
// same things neuroscale's engine waits for that kubectl can express.
func writeWaits(w *strings.Builder, objs []*unstructured.Unstructured) {
	var crds []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o.GetName())
		}
	}
	if len(crds) > 0 {
		fmt.Fprintf(w, "crds\t%s\n", strings.Join(crds, " "))
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet":
			fmt.Fprintf(w, "rollout\t%s\t%s\t%s\n", strings.ToLower(o.GetKind()), o.GetNamespace(), o.GetName())
		case "InferenceService":
			fmt.Fprintf(w, "ready\tinferenceservice\t%s\t%s\n", o.GetNamespace(), o.GetName())
		}
	}
}

func writeYAML(file string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(file), err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

func writeObjects(file string, objs []*unstructured.Unstructured) error {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// materialise writes a manifest step's kustomization to dir as render
// builds it in memory (render.ExpandDir: embedded files, .tmpl executed;
// upstream files from the cache under upstream/), so `kustomize build dir`
// sees the same inputs as neuroscale.
func materialise(r *config.Resolved, m *catalog.Manifest, dir string) error {
	err := render.ExpandDir(r, m.Dir, func(rel string, b []byte) error {
		return writeFile(filepath.Join(dir, filepath.FromSlash(rel)), b)
	})
	if err != nil {
		return fmt.Errorf("materialise %s: %w", m.Dir, err)
	}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(r.Sources.CacheDir, filepath.FromSlash(f.Mirror)))
		if err != nil {
			return fmt.Errorf("materialise %s: %w", m.Dir, err)
		}
		if err := writeFile(filepath.Join(dir, "upstream", path.Base(f.Name)), b); err != nil {
			return fmt.Errorf("materialise %s: %w", m.Dir, err)
		}
	}
	return nil
}

func writeFile(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
