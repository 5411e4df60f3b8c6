package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/profiles"
)

// Defaults used when neither the file nor the profile says otherwise.
const (
	DefaultProfile     = "dev"
	DefaultClusterName = "neuroscale"
	// DefaultK3sImage pins the node image k3d starts.
	DefaultK3sImage  = "rancher/k3s:v1.33.4-k3s1"
	DefaultHTTPPort  = 8081
	DefaultHTTPSPort = 8444
	DefaultBranch    = "main"
	DefaultAppsPath  = "apps"
)

// Resolved is the effective configuration: defaults, profile, file,
// environment and flags folded together. Everything downstream reads this.
type Resolved struct {
	// Profile is the active profile's name; ProfileChain lists it and what
	// it extends, base first.
	Profile      string
	ProfileChain []string
	Cluster      Cluster
	Sources      Sources
	// Components has one entry per known component, in install order.
	Components   []ResolvedComponent
	Backstage    BackstageSettings
	Secrets      []ResolvedSecret
	Forwards     []Forward
	GitOps       *GitOps
	Requirements Requirements
	// Doc is the config file, for positions in messages; nil when none.
	Doc *Document
	// Platform is the file as decoded, after overrides.
	Platform *Platform
	// Warnings do not stop neuroscale but say where the file means
	// something else than it seems to (chart values YAML 1.1 reads
	// differently); the command layer prints them.
	Warnings []Problem
	// ProviderNote says why Cluster.Provider is not what the file says
	// (a --kubeconfig on the command line); "" when it is.
	ProviderNote string
}

// ResolvedComponent is one component's effective settings.
type ResolvedComponent struct {
	Name    string
	Enabled bool
	// Values are profile values with the file's values merged over them.
	Values  map[string]any
	Timeout Duration
}

// ResolvedSecret pairs what the profile requires with where the user said
// the value comes from.
type ResolvedSecret struct {
	Name    string
	Require SecretRequire
	Source  SecretSource
	// Declared is true when the config file names this secret.
	Declared bool
}

// Component returns the named component, or nil.
func (r *Resolved) Component(name string) *ResolvedComponent {
	for i := range r.Components {
		if r.Components[i].Name == name {
			return &r.Components[i]
		}
	}
	return nil
}

// Enabled reports whether the named component is on.
func (r *Resolved) Enabled(name string) bool {
	c := r.Component(name)
	return c != nil && c.Enabled
}

// LoadProfile returns the named profile, following Extends through the
// built-in profiles and those defined in p. The result is flattened.
func LoadProfile(name string, p *Platform) (*Profile, []string, error) {
	var chain []*Profile
	var names []string
	seen := map[string]bool{}
	// at is the YAML path of the config file that named cur.
	at := "$.profile"
	for cur := name; cur != ""; {
		if seen[cur] {
			return nil, nil, &ProfileError{Path: at, Msg: fmt.Sprintf("profile %s extends itself through %s", Quote(name), strings.Join(names, " -> ")), Hint: "end the chain with extends: dev or extends: prod"}
		}
		seen[cur] = true
		var prof *Profile
		if p != nil {
			if up, ok := p.Profiles[cur]; ok {
				up := up
				up.Name = cur
				prof = &up
			}
		}
		if prof == nil {
			raw, err := profiles.Read(cur)
			if err != nil {
				return nil, nil, &ProfileError{Path: at, Msg: fmt.Sprintf("profile %s: %v", Quote(cur), err), Hint: "use dev or prod, or define it under profiles: in neuroscale.yaml"}
			}
			var bp Profile
			if _, err := Decode("profiles/"+cur+".yaml", raw, &bp); err != nil {
				return nil, nil, fmt.Errorf("built-in profile %q: %w", cur, err)
			}
			prof = &bp
		}
		if prof.Extends == "" && p != nil && p.Profiles != nil {
			if _, user := p.Profiles[cur]; user {
				return nil, nil, &ProfileError{Path: "$.profiles." + cur, Msg: fmt.Sprintf("profile %s must extend dev or prod", Quote(cur)), Hint: "add extends: dev"}
			}
		}
		chain = append([]*Profile{prof}, chain...)
		names = append([]string{cur}, names...)
		at = "$.profiles." + cur + ".extends"
		cur = prof.Extends
	}
	out := &Profile{Name: name}
	for _, pr := range chain {
		mergeProfile(out, pr)
	}
	out.Name = name
	return out, names, nil
}

func mergeProfile(dst, src *Profile) {
	if src.Description != "" {
		dst.Description = src.Description
	}
	if src.Requirements.MemoryGiB != 0 {
		dst.Requirements.MemoryGiB = src.Requirements.MemoryGiB
	}
	if src.Requirements.CPUs != 0 {
		dst.Requirements.CPUs = src.Requirements.CPUs
	}
	if src.Requirements.DiskGiB != 0 {
		dst.Requirements.DiskGiB = src.Requirements.DiskGiB
	}
	mergeComponents(&dst.Components, &src.Components)
	mergeBackstage(&dst.Backstage, &src.Backstage)
	if len(src.Secrets) > 0 {
		if dst.Secrets == nil {
			dst.Secrets = map[string]SecretRequire{}
		}
		for k, v := range src.Secrets {
			dst.Secrets[k] = v
		}
	}
	if len(src.Forwards) > 0 {
		dst.Forwards = append([]Forward(nil), src.Forwards...)
	}
}

func mergeComponents(dst, src *Components) {
	for _, n := range ComponentNames {
		s := src.Get(n)
		if s == nil {
			continue
		}
		d := dst.Get(n)
		if d == nil {
			d = &Component{}
		} else {
			cp := *d
			d = &cp
		}
		if s.Enabled != nil {
			d.Enabled = s.Enabled
		}
		if s.Timeout.Duration != 0 {
			d.Timeout = s.Timeout
		}
		d.Values = MergeValues(d.Values, s.Values)
		dst.Set(n, d)
	}
}

func mergeBackstage(dst, src *BackstageSettings) {
	if src.Title != "" {
		dst.Title = src.Title
	}
	if src.BaseURL != "" {
		dst.BaseURL = src.BaseURL
	}
	if src.Auth != "" {
		dst.Auth = src.Auth
	}
	if src.Replicas != nil {
		dst.Replicas = src.Replicas
	}
	if src.Persistence != nil {
		dst.Persistence = src.Persistence
	}
	if src.Probes != nil {
		if dst.Probes == nil {
			dst.Probes = &ProbeSet{}
		}
		if src.Probes.Startup != nil {
			dst.Probes.Startup = src.Probes.Startup
		}
		if src.Probes.Readiness != nil {
			dst.Probes.Readiness = src.Probes.Readiness
		}
		if src.Probes.Liveness != nil {
			dst.Probes.Liveness = src.Probes.Liveness
		}
	}
}

// MergeValues deep-merges src over dst like Helm merges values files:
// maps merge key by key, anything else in src replaces. Neither input is
// modified.
func MergeValues(dst, src map[string]any) map[string]any {
	if dst == nil && src == nil {
		return nil
	}
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = copyValue(v)
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = MergeValues(dm, sm)
				continue
			}
		}
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return MergeValues(nil, t)
	case []any:
		c := make([]any, len(t))
		for i := range t {
			c[i] = copyValue(t[i])
		}
		return c
	}
	return v
}

// Resolve folds the profile under the file and fills defaults. The file
// p must already carry environment and flag overrides (see Overrides).
func Resolve(p *Platform, doc *Document) (*Resolved, error) {
	if p == nil {
		p = &Platform{APIVersion: APIVersion, Kind: KindPlatform}
	}
	name := p.Profile
	if name == "" {
		name = DefaultProfile
	}
	prof, chain, err := LoadProfile(name, p)
	if err != nil {
		return nil, profileErrorAt(doc, name, err)
	}
	r := &Resolved{Profile: name, ProfileChain: chain, Doc: doc, Platform: p, Requirements: prof.Requirements}

	r.Cluster = p.Cluster
	if r.Cluster.Provider == "" {
		r.Cluster.Provider = ProviderK3d
	}
	if r.Cluster.Name == "" {
		r.Cluster.Name = DefaultClusterName
	}
	if r.Cluster.K3sImage == "" {
		r.Cluster.K3sImage = DefaultK3sImage
	}
	if r.Cluster.Ports.HTTP == 0 {
		r.Cluster.Ports.HTTP = DefaultHTTPPort
	}
	if r.Cluster.Ports.HTTPS == 0 {
		r.Cluster.Ports.HTTPS = DefaultHTTPSPort
	}
	if r.Cluster.ImageCache == nil {
		t := true
		r.Cluster.ImageCache = &t
	}
	r.Cluster.Kubeconfig = expandHome(r.Cluster.Kubeconfig)

	r.Sources = p.Sources
	if r.Sources.CacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			r.Sources.CacheDir = filepath.Join(d, "neuroscale")
		} else {
			r.Sources.CacheDir = filepath.Join(os.TempDir(), "neuroscale-cache")
		}
	}
	r.Sources.CacheDir = expandHome(r.Sources.CacheDir)

	comps := prof.Components
	mergeComponents(&comps, &p.Components)
	for _, n := range ComponentNames {
		c := comps.Get(n)
		rc := ResolvedComponent{Name: n, Enabled: c.IsEnabled()}
		if c != nil {
			rc.Values = c.Values
			rc.Timeout = c.Timeout
		}
		if rc.Values == nil {
			rc.Values = map[string]any{}
		}
		r.Components = append(r.Components, rc)
	}

	r.Backstage = prof.Backstage
	mergeBackstage(&r.Backstage, &p.Backstage)

	names := map[string]bool{}
	for k := range prof.Secrets {
		names[k] = true
	}
	for k := range p.Secrets {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		rs := ResolvedSecret{Name: k, Require: prof.Secrets[k]}
		if src, ok := p.Secrets[k]; ok {
			rs.Source, rs.Declared = src, true
		}
		if rs.Source.Env == "" && rs.Source.File == "" && !rs.Source.Prompt {
			rs.Source.Env = rs.Require.Env
			if rs.Source.Env == "" {
				rs.Source.Env = k
			}
		}
		if rs.Source.Kind == "" {
			rs.Source.Kind = rs.Require.Kind
		}
		rs.Source.File = expandHome(rs.Source.File)
		r.Secrets = append(r.Secrets, rs)
	}

	// The profile's forwards are named after the component they reach;
	// one whose component is turned off would only ever be reported dead
	// (by forward, verify and doctor). Forwards the file lists are kept.
	for _, f := range prof.Forwards {
		if c := r.Component(f.Name); c == nil || c.Enabled {
			r.Forwards = append(r.Forwards, f)
		}
	}
	if len(p.Forwards) > 0 {
		r.Forwards = p.Forwards
	}
	for i := range r.Forwards {
		if r.Forwards[i].Scheme == "" {
			r.Forwards[i].Scheme = "http"
		}
	}

	if p.GitOps != nil {
		g := *p.GitOps
		if g.Branch == "" {
			g.Branch = DefaultBranch
		}
		if g.Path == "" {
			g.Path = DefaultAppsPath
		}
		r.GitOps = &g
	}
	return r, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// Problem is one thing wrong with a configuration: a diag.Diagnostic
// whose ID is "config" (or "yaml11" for the YAML 1.1 warnings), at the
// file:line:col the cause is written at when it is written in the file.
type Problem = diag.Diagnostic

// nextStep is what to do after the configuration failed to validate.
const nextStep = "nothing was changed; fix the configuration where each problem points and run again"

// Validate returns every structural problem of the resolved configuration
// at once, in a *diag.Failed; nil when there is none. Platform-level rules with IDs
// (Backstage auth, probes, ...) live in package validate.
func (r *Resolved) Validate() error {
	var errs []Problem
	add := func(path, msg, fix string) {
		errs = append(errs, Problem{ID: "config", Severity: diag.Error, Position: r.Doc.Position(path), Message: msg, Fix: fix})
	}
	switch r.Cluster.Provider {
	case ProviderK3d:
	case ProviderExisting:
		// Whether the kubeconfig exists is for the commands that reach the
		// cluster to say (cluster.LoadAccess): render and validate need none.
	default:
		hint := "use k3d or existing"
		if s := closest(r.Cluster.Provider, []string{ProviderK3d, ProviderExisting}); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		add("$.cluster.provider", fmt.Sprintf("cluster.provider %s is not known", Quote(r.Cluster.Provider)), hint)
	}
	if !validDNSLabel(r.Cluster.Name) {
		add("$.cluster.name", fmt.Sprintf("cluster.name %s is not a valid name", Quote(r.Cluster.Name)), "use lowercase letters, digits and '-', at most 32 characters")
	}
	checkPort := func(path, what string, p int) {
		if p < 0 || p > 65535 {
			add(path, fmt.Sprintf("%s %d is not a port", what, p), "use 1-65535")
		}
	}
	checkPort("$.cluster.ports.http", "cluster.ports.http", r.Cluster.Ports.HTTP)
	checkPort("$.cluster.ports.https", "cluster.ports.https", r.Cluster.Ports.HTTPS)
	checkPort("$.cluster.ports.api", "cluster.ports.api", r.Cluster.Ports.API)

	if m := r.Sources.Mirror; m != "" && !strings.HasPrefix(m, "file://") && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		add("$.sources.mirror", fmt.Sprintf("sources.mirror %s is neither file:// nor http(s)://", Quote(m)), "write file:///path/to/mirror or https://host/path")
	}

	type use struct{ path, what string }
	used := map[int]use{}
	claim := func(path string, port int, what string) {
		if port == 0 {
			return
		}
		if prev, ok := used[port]; ok {
			// Point at whichever of the two is written in the file: the
			// other may come from the profile.
			pos := r.Doc.Position(path)
			if pos == r.Doc.Name || pos == "" {
				pos = r.Doc.Position(prev.path)
			}
			errs = append(errs, Problem{ID: "config", Severity: diag.Error, Position: pos, Message: fmt.Sprintf("port %d is used twice: by %s and by %s", port, prev.what, what), Fix: "give each a different port"})
			return
		}
		used[port] = use{path, what}
	}
	if r.Cluster.Provider == ProviderK3d {
		claim("$.cluster.ports.http", r.Cluster.Ports.HTTP, "the k3d load balancer (http)")
		claim("$.cluster.ports.https", r.Cluster.Ports.HTTPS, "the k3d load balancer (https)")
		claim("$.cluster.ports.api", r.Cluster.Ports.API, "the Kubernetes API")
	}
	fnames := map[string]bool{}
	for i, f := range r.Forwards {
		path := fmt.Sprintf("$.forwards[%d]", i)
		if f.Name == "" || fnames[f.Name] {
			add(path, fmt.Sprintf("forward %d has an empty or repeated name %s", i, Quote(f.Name)), "give every forward a unique name")
		}
		fnames[f.Name] = true
		if f.Service == "" || f.Namespace == "" || f.RemotePort <= 0 {
			add(path, fmt.Sprintf("forward %s needs namespace, service and remotePort", Quote(f.Name)), "fill them in")
		}
		if f.LocalPort <= 0 || f.LocalPort > 65535 {
			add(path+".localPort", fmt.Sprintf("forward %s has localPort %d", Quote(f.Name), f.LocalPort), "use 1-65535")
		}
		claim(path+".localPort", f.LocalPort, fmt.Sprintf("the %s port-forward", f.Name))
	}
	for _, n := range ComponentNames {
		if c := r.Platform.Components.Get(n); c != nil && c.Timeout.Invalid() != "" {
			add("$.components."+n+".timeout", fmt.Sprintf("invalid duration %s for components.%s.timeout", Quote(c.Timeout.Invalid()), n), "write it like 90s or 5m")
		}
	}
	switch r.Backstage.Auth {
	case "guest", "github":
	default:
		add("$.backstage.auth", fmt.Sprintf("backstage.auth %s is not known", Quote(r.Backstage.Auth)), "use guest or github")
	}
	for _, s := range r.Secrets {
		path := "$.secrets." + s.Name
		n := 0
		if s.Source.Env != "" {
			n++
		}
		if s.Source.File != "" {
			n++
		}
		if s.Declared && n > 1 {
			add(path, fmt.Sprintf("secret %s names both env and file", s.Name), "keep one source")
		}
		switch s.Source.Kind {
		case "", "opaque", "github-token", "oauth-client-id", "oauth-client-secret":
		default:
			add(path+".kind", fmt.Sprintf("secret %s has kind %s", s.Name, Quote(s.Source.Kind)), "use github-token, oauth-client-id, oauth-client-secret or opaque")
		}
	}
	if g := r.GitOps; g != nil {
		if !strings.HasPrefix(g.Repo, "https://github.com/") || strings.Count(strings.Trim(strings.TrimPrefix(g.Repo, "https://github.com/"), "/"), "/") != 1 {
			add("$.gitops.repo", fmt.Sprintf("gitops.repo %s is not https://github.com/OWNER/NAME", Quote(g.Repo)), "the template publishes pull requests with publish:github:pull-request")
		}
	}
	for name := range r.Platform.Profiles {
		if name == "dev" || name == "prod" {
			add("$.profiles."+name, fmt.Sprintf("profile %s redefines a built-in profile", Quote(name)), "give it another name and extends: "+name)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &diag.Failed{Check: "config", Diagnostics: errs, Next: nextStep}
}

func validDNSLabel(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}
