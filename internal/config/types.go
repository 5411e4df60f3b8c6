// Package config reads neuroscale.yaml and the profiles, and resolves them
// into the one effective configuration every other package works from.
//
// Precedence, highest first: command-line flags, NEUROSCALE_* environment
// variables, the config file, the profile, built-in defaults. Decoding is
// strict: an unknown key, a wrong type or a mis-indented block is an error
// that names file:line:column, because a silently dropped key is exactly how
// the seed platform lost its probes and a Kyverno rule.
package config

import (
	"fmt"
	"time"

	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// APIVersion is the only config apiVersion this release reads.
const APIVersion = "neuroscale.dev/v1alpha1"

// Kinds of the documents neuroscale reads.
const (
	KindPlatform = "Platform"
	KindProfile  = "Profile"
)

// Component names, in the order the platform is installed; the graph is
// declared in package stages/components.
const (
	CertManager    = components.CertManager
	KnativeServing = components.KnativeServing
	Kourier        = components.Kourier
	KServe         = components.KServe
	ArgoCD         = components.ArgoCD
	Kyverno        = components.Kyverno
	Backstage      = components.Backstage
	Demo           = components.Demo
)

// ComponentNames lists every component neuroscale knows, in install order.
var ComponentNames = components.Names()

// Cluster providers.
const (
	ProviderK3d      = "k3d"
	ProviderExisting = "existing"
)

// Platform is the neuroscale.yaml document.
type Platform struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	// Profile names the profile to start from: dev, prod or one of Profiles.
	Profile string `yaml:"profile,omitempty" json:"profile,omitempty"`
	// Profiles defines extra profiles, each extending dev or prod.
	Profiles map[string]Profile `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	Cluster  Cluster            `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	Sources  Sources            `yaml:"sources,omitempty" json:"sources,omitempty"`
	// Components tunes each component; unset fields come from the profile.
	Components Components `yaml:"components,omitempty" json:"components,omitempty"`
	// Backstage holds the typed Backstage settings neuroscale turns into
	// chart values itself, so they cannot be nested at the wrong level.
	Backstage BackstageSettings `yaml:"backstage,omitempty" json:"backstage,omitempty"`
	// Secrets says where each secret comes from; never the value itself.
	Secrets map[string]SecretSource `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Forwards replaces the profile's port-forwards when set.
	Forwards []Forward `yaml:"forwards,omitempty" json:"forwards,omitempty"`
	// GitOps, when set, is where the Backstage template opens pull requests
	// and what ArgoCD's ApplicationSet deploys from.
	GitOps *GitOps `yaml:"gitops,omitempty" json:"gitops,omitempty"`
}

// Cluster says which cluster the platform goes into.
type Cluster struct {
	// Provider is k3d (create a local cluster) or existing (use a kubeconfig).
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	// Name is the k3d cluster name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Kubeconfig is the kubeconfig path for existing clusters, and where k3d
	// writes its kubeconfig when set (default: merged into ~/.kube/config).
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// Context selects a context from Kubeconfig.
	Context string `yaml:"context,omitempty" json:"context,omitempty"`
	// K3sImage pins the k3s node image for k3d.
	K3sImage string `yaml:"k3sImage,omitempty" json:"k3sImage,omitempty"`
	// Agents is the number of k3d agent nodes.
	Agents int `yaml:"agents,omitempty" json:"agents,omitempty"`
	// Ports are the host ports of k3d's load balancer.
	Ports HostPorts `yaml:"ports,omitempty" json:"ports,omitempty"`
	// ImageCache keeps a pull-through registry that outlives the cluster.
	ImageCache *bool `yaml:"imageCache,omitempty" json:"imageCache,omitempty"`
}

// HostPorts are host ports mapped to k3d's load balancer (and so to Kourier).
type HostPorts struct {
	HTTP  int `yaml:"http,omitempty" json:"http,omitempty"`
	HTTPS int `yaml:"https,omitempty" json:"https,omitempty"`
	// API is the Kubernetes API port on the host; 0 picks a free one.
	API int `yaml:"api,omitempty" json:"api,omitempty"`
}

// Sources says where charts and manifests are downloaded from.
type Sources struct {
	// Mirror replaces upstream: a file:// directory or http(s):// URL laid
	// out as charts/<chart>-<version>.tgz and manifests/<component>-<version>/<file>.
	Mirror string `yaml:"mirror,omitempty" json:"mirror,omitempty"`
	// CacheDir holds verified downloads; default <user cache dir>/neuroscale.
	CacheDir string `yaml:"cacheDir,omitempty" json:"cacheDir,omitempty"`
}

// Components holds one entry per component. It is a struct, not a map, so
// a misspelt or mis-indented component name is a decode error with a line.
type Components struct {
	CertManager    *Component `yaml:"cert-manager,omitempty" json:"cert-manager,omitempty"`
	KnativeServing *Component `yaml:"knative-serving,omitempty" json:"knative-serving,omitempty"`
	Kourier        *Component `yaml:"kourier,omitempty" json:"kourier,omitempty"`
	KServe         *Component `yaml:"kserve,omitempty" json:"kserve,omitempty"`
	ArgoCD         *Component `yaml:"argocd,omitempty" json:"argocd,omitempty"`
	Kyverno        *Component `yaml:"kyverno,omitempty" json:"kyverno,omitempty"`
	Backstage      *Component `yaml:"backstage,omitempty" json:"backstage,omitempty"`
	Demo           *Component `yaml:"demo,omitempty" json:"demo,omitempty"`
}

// Get returns the named component's settings, or nil.
func (c *Components) Get(name string) *Component {
	p := c.slot(name)
	if p == nil {
		return nil
	}
	return *p
}

// Set replaces the named component's settings; unknown names are ignored.
func (c *Components) Set(name string, v *Component) {
	if p := c.slot(name); p != nil {
		*p = v
	}
}

func (c *Components) slot(name string) **Component {
	switch name {
	case CertManager:
		return &c.CertManager
	case KnativeServing:
		return &c.KnativeServing
	case Kourier:
		return &c.Kourier
	case KServe:
		return &c.KServe
	case ArgoCD:
		return &c.ArgoCD
	case Kyverno:
		return &c.Kyverno
	case Backstage:
		return &c.Backstage
	case Demo:
		return &c.Demo
	}
	return nil
}

// Component tunes one component.
type Component struct {
	// Enabled turns the component off when false. Components that others
	// need cannot be turned off alone; validation says which.
	Enabled *bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// Values are merged over the profile's values for the component's chart.
	Values map[string]any `yaml:"values,omitempty" json:"values,omitempty"`
	// Timeout overrides the readiness budget neuroscale derives from probes.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// IsEnabled reports whether the component is on; nil means on.
func (c *Component) IsEnabled() bool {
	return c == nil || c.Enabled == nil || *c.Enabled
}

// BackstageSettings are the Backstage settings that decide whether the
// portal works at all; neuroscale writes them into the chart values at the
// right level.
type BackstageSettings struct {
	// Title is app.title; Backstage's frontend crashes without it.
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	// BaseURL is app.baseUrl and backend.baseUrl: the URL a browser opens,
	// so it must match the local port of the Backstage forward.
	BaseURL string `yaml:"baseUrl,omitempty" json:"baseUrl,omitempty"`
	// Auth is guest (dev) or github (prod, OAuth app).
	Auth string `yaml:"auth,omitempty" json:"auth,omitempty"`
	// Replicas of the Backstage Deployment.
	Replicas *int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	// Probes of the Backstage container.
	Probes *ProbeSet `yaml:"probes,omitempty" json:"probes,omitempty"`
	// Persistence turns the bundled PostgreSQL's volume on or off.
	Persistence *bool `yaml:"persistence,omitempty" json:"persistence,omitempty"`
}

// ProbeSet is a container's three probes.
type ProbeSet struct {
	Startup   *Probe `yaml:"startup,omitempty" json:"startup,omitempty"`
	Readiness *Probe `yaml:"readiness,omitempty" json:"readiness,omitempty"`
	Liveness  *Probe `yaml:"liveness,omitempty" json:"liveness,omitempty"`
}

// Probe holds the timing fields of a Kubernetes probe.
type Probe struct {
	InitialDelaySeconds int `yaml:"initialDelaySeconds,omitempty" json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int `yaml:"periodSeconds,omitempty" json:"periodSeconds,omitempty"`
	TimeoutSeconds      int `yaml:"timeoutSeconds,omitempty" json:"timeoutSeconds,omitempty"`
	FailureThreshold    int `yaml:"failureThreshold,omitempty" json:"failureThreshold,omitempty"`
}

// Kubernetes' values for probe fields left unset. The engine's probe
// budgets, validate's and doctor's probe comparisons all use these.
const (
	ProbeDefaultPeriodSeconds    = 10
	ProbeDefaultTimeoutSeconds   = 1
	ProbeDefaultFailureThreshold = 3
)

// SecretSource says where one secret's value comes from.
type SecretSource struct {
	// Env names an environment variable holding the value.
	Env string `yaml:"env,omitempty" json:"env,omitempty"`
	// File is a path to a file holding the value.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// Prompt asks on the terminal, without echo, when no other source is set.
	Prompt bool `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	// Kind selects shape checks: github-token, oauth-client-id,
	// oauth-client-secret or opaque.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Value is accepted by the decoder only so that a literal secret in the
	// file is reported as such (rule NS-SECRET-LITERAL), never used.
	Value string `yaml:"value,omitempty" json:"-"`
}

// Forward is one supervised port-forward.
type Forward struct {
	Name      string `yaml:"name" json:"name"`
	Namespace string `yaml:"namespace" json:"namespace"`
	// Service is the Service whose Ready pod is forwarded to.
	Service string `yaml:"service" json:"service"`
	// LocalPort is bound on 127.0.0.1.
	LocalPort int `yaml:"localPort" json:"localPort"`
	// RemotePort is the Service port.
	RemotePort int `yaml:"remotePort" json:"remotePort"`
	// Probe is an HTTP path checked through the tunnel.
	Probe string `yaml:"probe,omitempty" json:"probe,omitempty"`
	// Scheme is http or https, for the probe and the printed URL.
	Scheme string `yaml:"scheme,omitempty" json:"scheme,omitempty"`
}

// URL is what a user opens for this forward.
func (f Forward) URL() string {
	s := f.Scheme
	if s == "" {
		s = "http"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", s, f.LocalPort)
}

// GitOps is the repository the Golden Path's pull requests go to.
type GitOps struct {
	// Repo is https://github.com/OWNER/NAME.
	Repo string `yaml:"repo" json:"repo"`
	// Branch that ArgoCD deploys from; default main.
	Branch string `yaml:"branch,omitempty" json:"branch,omitempty"`
	// Path is the folder holding one folder per model endpoint; default apps.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
}

// Profile is a named set of defaults: profiles/dev.yaml, profiles/prod.yaml
// or an entry of Platform.Profiles.
type Profile struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	// Extends names the profile this one starts from (dev or prod).
	Extends     string `yaml:"extends,omitempty" json:"extends,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Requirements is what the machine's container engine must offer.
	Requirements Requirements             `yaml:"requirements,omitempty" json:"requirements,omitempty"`
	Components   Components               `yaml:"components,omitempty" json:"components,omitempty"`
	Backstage    BackstageSettings        `yaml:"backstage,omitempty" json:"backstage,omitempty"`
	Secrets      map[string]SecretRequire `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Forwards     []Forward                `yaml:"forwards,omitempty" json:"forwards,omitempty"`
}

// Requirements is the capacity a profile needs.
type Requirements struct {
	MemoryGiB int `yaml:"memoryGiB,omitempty" json:"memoryGiB,omitempty"`
	CPUs      int `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	DiskGiB   int `yaml:"diskGiB,omitempty" json:"diskGiB,omitempty"`
}

// SecretRequire says that a profile needs a secret, and how strictly.
type SecretRequire struct {
	// Required makes a missing value an error; otherwise a warning.
	Required bool `yaml:"required,omitempty" json:"required,omitempty"`
	// Kind selects shape checks (see SecretSource.Kind).
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Env is the default environment variable to read it from.
	Env string `yaml:"env,omitempty" json:"env,omitempty"`
	// Consumers are Deployments (namespace/name) that read it as env vars.
	Consumers []string `yaml:"consumers,omitempty" json:"consumers,omitempty"`
	// Why is shown when the secret is missing.
	Why string `yaml:"why,omitempty" json:"why,omitempty"`
}

// Duration is a time.Duration written as "90s" or "5m" in YAML.
type Duration struct {
	time.Duration
	// invalid keeps text that did not parse, so Validate can report it
	// with its file:line (the decoder's own error has no position).
	invalid string
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	d.Duration, d.invalid = 0, ""
	if len(b) == 0 {
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil {
		d.invalid = string(b)
		return nil
	}
	d.Duration = v
	return nil
}

// Invalid returns the text that did not parse as a duration, if any.
func (d Duration) Invalid() string { return d.invalid }

// MarshalText writes the duration back as "1m30s".
func (d Duration) MarshalText() ([]byte, error) {
	if d.Duration == 0 {
		return []byte(""), nil
	}
	return []byte(d.String()), nil
}

// IsZero lets omitempty drop unset durations.
func (d Duration) IsZero() bool { return d.Duration == 0 }
