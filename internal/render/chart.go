package render

import (
	"context"
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/logging"
)

// renderChart renders one chart client-side exactly as `helm install`
// would template it: CRDs and hooks included, no cluster contacted.
func renderChart(ctx context.Context, r *config.Resolved, cc *catalog.Component, ch *catalog.Chart, path string, opts Options, log *slog.Logger) (*Step, error) {
	if path == "" {
		return nil, fmt.Errorf("chart %s %s was not fetched", ch.Name, ch.Version)
	}
	vals, err := content.Values(r, cc.Name, ch.Name, opts.Inputs)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", opts.KubeVersion, err)
	}
	ns := ch.Namespace
	if ns == "" {
		ns = cc.Namespace
	}

	var key string
	if sum := opts.Fetcher.Digest(path); opts.cache != nil && sum != "" {
		var kerr error
		if key, kerr = opts.cache.key(sum, ch.Release, ns, opts.KubeVersion, vals); kerr != nil {
			log.Debug("render cache skipped", "chart", ch.Name, "err", kerr)
		}
	}
	if key != "" {
		objs, hooks, ok, err := opts.cache.get(key)
		if err != nil {
			log.Warn("cached render of "+ch.Name+" was changed since it was written; rendering it again", "err", err)
		}
		if ok {
			log.Debug("rendered chart from cache", "chart", ch.Name, "version", ch.Version, "objects", len(objs), "hooks", len(hooks))
			return &Step{Kind: StepChart, Name: ch.Release, Namespace: ns, ChartName: ch.Name, ChartFile: path, ChartVersion: ch.Version,
				Values: vals, Objects: append(objs, hooks...), Hooks: hooks}, nil
		}
	}
	step := &Step{Kind: StepChart, Name: ch.Release, Namespace: ns, ChartName: ch.Name, ChartFile: path, ChartVersion: ch.Version}
	chrt, err := step.LoadChart()
	if err != nil {
		return nil, err
	}

	inst := action.NewInstall(&action.Configuration{Log: logging.Printf(log, "helm")})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = ch.Release
	inst.Namespace = ns
	inst.KubeVersion = kv
	// Helm may coalesce into the map it is given; Step.Values must stay
	// exactly what neuroscale asked for.
	rel, err := inst.RunWithContext(ctx, chrt, config.MergeValues(nil, vals))
	if err != nil {
		return nil, fmt.Errorf("helm template %s %s: %w", ch.Name, ch.Version, err)
	}

	objs, err := ParseYAML(rel.Manifest)
	if err != nil {
		return nil, fmt.Errorf("parse rendered %s: %w", ch.Name, err)
	}
	var hooks []*unstructured.Unstructured
	for _, h := range rel.Hooks {
		ho, err := ParseYAML(h.Manifest)
		if err != nil {
			return nil, fmt.Errorf("parse rendered hook %s of %s: %w", h.Name, ch.Name, err)
		}
		hooks = append(hooks, ho...)
	}
	if key != "" {
		if err := opts.cache.put(key, objs, hooks); err != nil {
			log.Debug("render cache not written", "chart", ch.Name, "err", err)
		}
	}
	log.Debug("rendered chart", "chart", ch.Name, "version", ch.Version, "objects", len(objs), "hooks", len(hooks))
	step.Values, step.Objects, step.Hooks = vals, append(objs, hooks...), hooks
	return step, nil
}
