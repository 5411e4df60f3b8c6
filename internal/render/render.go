package render

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
)

// DefaultKubeVersion is the Kubernetes version charts are rendered for:
// the minor of the k3s image neuroscale starts (config.DefaultK3sImage).
const DefaultKubeVersion = "v1.33.0"

// Options tune Render.
type Options struct {
	// Inputs are render-time facts for the content (secret checksums).
	Inputs content.Inputs
	// Log receives debug lines; nil discards them.
	Log *slog.Logger
	// Catalog defaults to the embedded one.
	Catalog *catalog.Catalog
	// Fetcher defaults to one built from r.Sources.
	Fetcher *sources.Fetcher
	// KubeVersion defaults to DefaultKubeVersion.
	KubeVersion string
	// NoCache renders every chart with Helm and builds every
	// kustomization even when an identical render is cached (under
	// <cacheDir>/rendered).
	NoCache bool
	// Downloaded, when set, is called once every chart and manifest is
	// fetched and verified, before rendering starts: up shows the download
	// and the render as phases of their own.
	Downloaded func()
	// OnDownload, when set, is told how the downloads advance (files and
	// bytes), for a progress bar; it is ignored when Fetcher is set.
	OnDownload func(sources.Progress)
	// Only, when set, renders just these components (still in catalog
	// order, still skipping disabled ones); the others are left out of the
	// Platform without being recorded as disabled.
	Only []string

	cache *renderCache
}

// Render renders every enabled component of r in catalog order. Charts
// and manifests are fetched (verified) first; components then render in
// parallel. Every component's failure is reported, not only the first.
func Render(ctx context.Context, r *config.Resolved, opts Options) (*Platform, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.KubeVersion == "" {
		opts.KubeVersion = DefaultKubeVersion
	}
	cat := opts.Catalog
	if cat == nil {
		var err error
		if cat, err = catalog.Load(); err != nil {
			return nil, err
		}
	}
	f := opts.Fetcher
	if f == nil {
		var err error
		f, err = sources.New(sources.Options{CacheDir: r.Sources.CacheDir, Mirror: r.Sources.Mirror, Log: opts.Log, OnProgress: opts.OnDownload})
		if err != nil {
			return nil, err
		}
	}
	// Charts render from what this fetcher verified (see renderChart).
	opts.Fetcher = f

	if !opts.NoCache && r.Sources.CacheDir != "" {
		opts.cache = &renderCache{dir: filepath.Join(r.Sources.CacheDir, "rendered")}
	}

	p := &Platform{Profile: r.Profile}
	var arts []catalog.Artifact
	var todo []*catalog.Component
	for i := range cat.Components {
		cc := &cat.Components[i]
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, cc.Name) {
			continue
		}
		if !r.Enabled(cc.Name) {
			p.Disabled = append(p.Disabled, cc.Name)
			continue
		}
		todo = append(todo, cc)
		arts = append(arts, cc.Artifacts()...)
	}
	files, err := f.FetchAll(ctx, arts)
	if err != nil {
		return nil, fmt.Errorf("fetch charts and manifests: %w", err)
	}
	if opts.Downloaded != nil {
		opts.Downloaded()
	}

	p.Components = make([]*Component, len(todo))
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	// All at once rather than GOMAXPROCS at a time: the components differ
	// tenfold in cost (Kyverno's chart against Kourier's one file), and
	// started in install order a bounded pool ends with Kyverno running
	// alone; left to the scheduler the whole render takes about total CPU
	// divided by cores.
	for i, cc := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Components[i], errs[i] = renderComponent(ctx, r, cc, files, opts)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	scopes := scopesFrom(p)
	for _, c := range p.Components {
		for _, s := range c.Steps {
			defaultNamespace(s, scopes)
		}
		if c.Digest, err = digest(c); err != nil {
			return nil, fmt.Errorf("digest %s: %w", c.Name, err)
		}
		c.cache = opts.cache
	}
	return p, nil
}

func renderComponent(ctx context.Context, r *config.Resolved, cc *catalog.Component, files map[string]string, opts Options) (*Component, error) {
	c := &Component{Name: cc.Name, Namespace: cc.Namespace, Version: cc.Version, Needs: append([]string(nil), cc.Needs...)}
	log := opts.Log.With("component", cc.Name)
	for _, cs := range cc.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var (
			s   *Step
			err error
		)
		switch {
		case cs.Chart != nil:
			s, err = renderChart(ctx, r, cc, cs.Chart, files[cs.Chart.Mirror], opts, log)
		case cs.Manifest != nil:
			s, err = renderManifest(r, cc, cs.Manifest, files, opts.cache, log)
		}
		if err != nil {
			return nil, &Error{Component: cc.Name, Step: cs.Name(), TakesValues: cs.Chart != nil && cs.Chart.Values, Err: err}
		}
		c.Steps = append(c.Steps, s)
	}
	return c, nil
}

// Error is a component step that failed to render.
type Error struct {
	Component string
	Step      string
	// TakesValues is set when the step renders components.<name>.values.
	TakesValues bool
	Err         error
}

func (e *Error) Error() string {
	return fmt.Sprintf("render %s (step %s): %v", e.Component, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Hint passes on the cause's hint, or says where to look.
func (e *Error) Hint() string {
	if h := diag.Hint(e.Err); h != "" {
		return h
	}
	if e.TakesValues {
		return fmt.Sprintf("check components.%s.values in neuroscale.yaml and the profile: a value of the wrong type or a key the chart's schema rejects stops the render", e.Component)
	}
	return "this is neuroscale's own content failing to render: run with -v and report it"
}
