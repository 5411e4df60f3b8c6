// Package catalog reads assets/catalog.yaml: the pinned list of components
// neuroscale installs, each with its namespace, version, dependencies and
// ordered steps (Helm charts and release manifests), and every upstream
// file's source and accepted sha256 digests.
//
// The catalog is embedded in the binary and decoded strictly, so a typo in
// it fails every test rather than silently dropping a digest check.
package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/neuroscale-dev/neuroscale/assets"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// Kind is the kind of the catalog document.
const Kind = "Catalog"

// Catalog is the decoded assets/catalog.yaml.
type Catalog struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	// Components are in install order.
	Components []Component `yaml:"components"`
}

// Component is one installable part of the platform.
type Component struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	// Version is the pinned upstream version; empty for neuroscale's own
	// content (the demo).
	Version string `yaml:"version,omitempty"`
	// Needs are components that must be Ready before this one starts,
	// from the graph's one declaration (package stages/components), not
	// from the catalog file.
	Needs []string `yaml:"-"`
	// Steps run in order.
	Steps []Step `yaml:"steps"`
}

// Step is exactly one of a chart or a manifest set.
type Step struct {
	Chart    *Chart    `yaml:"chart,omitempty"`
	Manifest *Manifest `yaml:"manifest,omitempty"`
}

// Name is the step's name: the release name of a chart, the manifest
// set's name otherwise.
func (s Step) Name() string {
	switch {
	case s.Chart != nil:
		return s.Chart.Release
	case s.Manifest != nil:
		return s.Manifest.Name
	}
	return ""
}

// Chart is a Helm chart step.
type Chart struct {
	// Name is the chart's name (Chart.yaml name).
	Name string `yaml:"name"`
	// Release is the Helm release name.
	Release string `yaml:"release"`
	// Namespace is the release namespace; default the component's.
	Namespace string `yaml:"namespace,omitempty"`
	Version   string `yaml:"version"`
	// Repo is a Helm repository URL (its index.yaml says where the .tgz is).
	Repo string `yaml:"repo,omitempty"`
	// OCI is an OCI reference without tag; the tag is Version.
	OCI string `yaml:"oci,omitempty"`
	// URL is the .tgz itself.
	URL string `yaml:"url,omitempty"`
	// Mirror is the path in a mirror and in the cache.
	Mirror string `yaml:"mirror"`
	// SHA256 lists every accepted digest of the .tgz; empty means unknown.
	SHA256 []string `yaml:"sha256,omitempty"`
	// UpstreamUnpinned says the official release's digest is not among
	// SHA256 (only a repackaged mirror's is): a download straight from
	// upstream is then accepted on first use and pinned in the cache,
	// instead of failing for every user who has no mirror.
	UpstreamUnpinned bool `yaml:"upstreamUnpinned,omitempty"`
	// Values marks the chart that takes components.<name>.values.
	Values bool `yaml:"values,omitempty"`
}

// Manifest is a set of manifests built with kustomize.
type Manifest struct {
	Name string `yaml:"name"`
	// Dir is the kustomization's directory inside assets (assets.FS).
	Dir string `yaml:"dir"`
	// Namespace is given to namespaced objects that have none; default the
	// component's.
	Namespace string `yaml:"namespace,omitempty"`
	// Files are upstream files placed at <Dir>/upstream/<Name>.
	Files []File `yaml:"files,omitempty"`
}

// File is one upstream release file.
type File struct {
	// Name is the file name under <dir>/upstream/.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Mirror is the path in a mirror and in the cache.
	Mirror string `yaml:"mirror"`
	// SHA256 lists every accepted digest; empty means unknown.
	SHA256 []string `yaml:"sha256,omitempty"`
}

// SourceKind says how an artifact is fetched from upstream.
type SourceKind string

// Source kinds.
const (
	// SourceURL is a plain http(s) download.
	SourceURL SourceKind = "url"
	// SourceHelmRepo is a chart found through a Helm repository's index.yaml.
	SourceHelmRepo SourceKind = "repo"
	// SourceOCI is a chart pulled from an OCI registry.
	SourceOCI SourceKind = "oci"
)

// Artifact is one file to download and verify: a chart .tgz or a release
// manifest. Path is both its place in a mirror and in the cache.
type Artifact struct {
	// Component owns the artifact.
	Component string
	// Path is relative: charts/<chart>-<version>.tgz or
	// manifests/<component>-<version>/<file>.
	Path string
	// Kind, Location, Chart and Version say where upstream has it:
	// Location is the URL, the repository URL or the OCI reference.
	Kind     SourceKind
	Location string
	Chart    string
	Version  string
	// SHA256 lists the accepted digests; empty means unknown.
	SHA256 []string
	// UpstreamUnpinned: see Chart.UpstreamUnpinned.
	UpstreamUnpinned bool
}

// Upstream describes the upstream source for messages.
func (a Artifact) Upstream() string {
	switch a.Kind {
	case SourceHelmRepo:
		return fmt.Sprintf("chart %s %s from %s", a.Chart, a.Version, a.Location)
	case SourceOCI:
		return a.Location + ":" + a.Version
	}
	return a.Location
}

// Artifact returns the chart's download.
func (c *Chart) Artifact(component string) Artifact {
	a := Artifact{Component: component, Path: c.Mirror, Chart: c.Name, Version: c.Version, SHA256: c.SHA256, UpstreamUnpinned: c.UpstreamUnpinned}
	switch {
	case c.OCI != "":
		a.Kind, a.Location = SourceOCI, c.OCI
	case c.Repo != "":
		a.Kind, a.Location = SourceHelmRepo, c.Repo
	default:
		a.Kind, a.Location = SourceURL, c.URL
	}
	return a
}

// Artifact returns the file's download.
func (f *File) Artifact(component string) Artifact {
	return Artifact{Component: component, Path: f.Mirror, Kind: SourceURL, Location: f.URL, SHA256: f.SHA256}
}

// Load decodes the embedded catalog and checks it.
func Load() (*Catalog, error) {
	data, err := fs.ReadFile(assets.FS, "catalog.yaml")
	if err != nil {
		return nil, fmt.Errorf("read embedded catalog: %w", err)
	}
	return Parse("assets/catalog.yaml", data)
}

// Parse strictly decodes a catalog document named name and checks it.
func Parse(name string, data []byte) (*Catalog, error) {
	var c Catalog
	if _, err := config.Decode(name, data, &c); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", name, err)
	}
	for i := range c.Components {
		c.Components[i].Needs = components.Needs(c.Components[i].Name)
	}
	return &c, nil
}

// Component returns the named component, or nil.
func (c *Catalog) Component(name string) *Component {
	for i := range c.Components {
		if c.Components[i].Name == name {
			return &c.Components[i]
		}
	}
	return nil
}

// Names returns the component names in install order.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.Components))
	for i, comp := range c.Components {
		out[i] = comp.Name
	}
	return out
}

// Artifacts returns every upstream download of the components, in order.
func (c *Catalog) Artifacts() []Artifact {
	var out []Artifact
	for _, comp := range c.Components {
		out = append(out, comp.Artifacts()...)
	}
	return out
}

// Artifacts returns the component's upstream downloads, in step order.
func (c *Component) Artifacts() []Artifact {
	var out []Artifact
	for _, s := range c.Steps {
		if s.Chart != nil {
			out = append(out, s.Chart.Artifact(c.Name))
		}
		if s.Manifest != nil {
			for i := range s.Manifest.Files {
				out = append(out, s.Manifest.Files[i].Artifact(c.Name))
			}
		}
	}
	return out
}

// Dependents returns the components that need name, directly or through
// others, in install order.
func (c *Catalog) Dependents(name string) []string {
	hit := map[string]bool{name: true}
	var out []string
	for _, comp := range c.Components {
		for _, n := range comp.Needs {
			if hit[n] && !hit[comp.Name] {
				hit[comp.Name] = true
				out = append(out, comp.Name)
			}
		}
	}
	return out
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Check returns every inconsistency at once: unknown or repeated
// components, components out of the graph's install order, steps that are
// not exactly one kind, and malformed sources, paths or digests. The
// graph's needs are checked where they are declared (stages/components).
func (c *Catalog) Check() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.APIVersion != config.APIVersion {
		add("apiVersion is %q, want %q", c.APIVersion, config.APIVersion)
	}
	if c.Kind != Kind {
		add("kind is %q, want %q", c.Kind, Kind)
	}
	seen := map[string]bool{}
	paths := map[string]string{}
	last := 0
	stepsOf := map[string]map[string]bool{}
	for _, comp := range c.Components {
		if !slices.Contains(config.ComponentNames, comp.Name) {
			add("component %q is not one of %s", comp.Name, strings.Join(config.ComponentNames, ", "))
		}
		if seen[comp.Name] {
			add("component %q is listed twice", comp.Name)
		}
		if comp.Namespace == "" {
			add("component %q has no namespace", comp.Name)
		}
		if p := slices.Index(config.ComponentNames, comp.Name); p >= 0 {
			if p < last {
				add("component %q comes before %q in the graph (stages/components): list components in install order", comp.Name, config.ComponentNames[last])
			}
			last = p
		}
		seen[comp.Name] = true
		if len(comp.Steps) == 0 {
			add("component %q has no steps", comp.Name)
		}
		steps := map[string]bool{}
		for i, s := range comp.Steps {
			where := fmt.Sprintf("component %q step %d", comp.Name, i+1)
			if (s.Chart == nil) == (s.Manifest == nil) {
				add("%s must be exactly one of chart or manifest", where)
				continue
			}
			if steps[s.Name()] {
				add("%s: step name %q is repeated", where, s.Name())
			}
			steps[s.Name()] = true
			stepsOf[comp.Name] = steps
			if s.Chart != nil {
				errs = append(errs, checkChart(where, s.Chart)...)
			} else {
				errs = append(errs, checkManifest(where, s.Manifest)...)
			}
		}
		for _, a := range comp.Artifacts() {
			if prev, ok := paths[a.Path]; ok && a.Path != "" {
				add("mirror path %s is used by both %s and %s", a.Path, prev, comp.Name)
			}
			paths[a.Path] = comp.Name
		}
		if comp.Version == "" && len(comp.Artifacts()) > 0 {
			add("component %q downloads upstream files but has no version", comp.Name)
		}
	}
	// The graph's step declarations name steps that exist, so a renamed
	// step cannot silently fall back to its component's needs.
	for _, gc := range components.Graph {
		if stepsOf[gc.Name] == nil {
			continue
		}
		for _, st := range gc.Steps {
			if !stepsOf[gc.Name][st.Name] {
				add("the graph (stages/components) declares step %q of %q, which has no such step", st.Name, gc.Name)
			}
			for _, n := range st.Needs {
				if comp, step, ok := strings.Cut(n, "/"); ok && stepsOf[comp] != nil && !stepsOf[comp][step] {
					add("the graph (stages/components): step %q of %q needs %q, which is no step", st.Name, gc.Name, n)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkChart(where string, ch *Chart) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
	if ch.Name == "" || ch.Release == "" || ch.Version == "" {
		add("chart needs name, release and version")
	}
	n := 0
	for _, s := range []string{ch.Repo, ch.OCI, ch.URL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		add("chart %s needs exactly one of repo, oci or url", ch.Name)
	}
	if ch.OCI != "" && !strings.HasPrefix(ch.OCI, "oci://") {
		add("chart %s: oci %q must start with oci://", ch.Name, ch.OCI)
	}
	for _, u := range []string{ch.Repo, ch.URL} {
		if u != "" && !strings.HasPrefix(u, "https://") {
			add("chart %s: %q must be an https:// URL", ch.Name, u)
		}
	}
	if want := fmt.Sprintf("charts/%s-%s.tgz", ch.Name, ch.Version); ch.Mirror != want {
		add("chart %s: mirror is %q, want %q", ch.Name, ch.Mirror, want)
	}
	errs = append(errs, checkDigests(where, ch.SHA256)...)
	return errs
}

func checkManifest(where string, m *Manifest) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
	if m.Name == "" {
		add("manifest needs a name")
	}
	if !strings.HasPrefix(m.Dir, "components/") || path.Clean(m.Dir) != m.Dir {
		add("manifest %s: dir %q must be a clean path under components/", m.Name, m.Dir)
	}
	names := map[string]bool{}
	for _, f := range m.Files {
		if f.Name == "" || path.Base(f.Name) != f.Name || names[f.Name] {
			add("manifest %s: file name %q must be a unique plain file name", m.Name, f.Name)
		}
		names[f.Name] = true
		if !strings.HasPrefix(f.URL, "https://") {
			add("manifest %s: file %s: url %q must be an https:// URL", m.Name, f.Name, f.URL)
		}
		dir := path.Dir(f.Mirror)
		if !strings.HasPrefix(dir, "manifests/") || strings.Count(dir, "/") != 1 || path.Base(f.Mirror) != f.Name {
			add("manifest %s: file %s: mirror %q must be manifests/<component>-<version>/%s", m.Name, f.Name, f.Mirror, f.Name)
		}
		errs = append(errs, checkDigests(where+" file "+f.Name, f.SHA256)...)
	}
	return errs
}

func checkDigests(where string, sums []string) []error {
	var errs []error
	for _, s := range sums {
		if !sha256Re.MatchString(s) {
			errs = append(errs, fmt.Errorf("%s: sha256 %q is not 64 lowercase hex digits", where, s))
		}
	}
	return errs
}
