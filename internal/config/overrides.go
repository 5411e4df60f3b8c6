package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/viper"
)

// OverrideKeys are the settings that flags and NEUROSCALE_* environment
// variables may override, as viper keys. The environment variable is the
// key upper-cased with '.' and '-' turned into '_':
// NEUROSCALE_CLUSTER_KUBECONFIG, NEUROSCALE_SOURCES_MIRROR, ...
var OverrideKeys = []string{
	"profile",
	"cluster.provider",
	"cluster.name",
	"cluster.kubeconfig",
	"cluster.context",
	"sources.mirror",
	"sources.cache-dir",
}

// NewViper returns a viper holding the NEUROSCALE_* overrides found in env
// (a list of KEY=VALUE, normally os.Environ()). The list is injected rather
// than read from the process so tests control it. The values are viper
// defaults, so flags bound by the caller with BindPFlag on the same keys
// win over them: flags > environment.
func NewViper(env []string) *viper.Viper {
	v := viper.New()
	keys := make(map[string]string, len(OverrideKeys))
	for _, key := range OverrideKeys {
		keys[EnvName(key)] = key
	}
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if key, known := keys[k]; ok && known {
			v.SetDefault(key, val)
		}
	}
	return v
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return "NEUROSCALE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// ApplyOverrides writes every override set in v (flag or environment)
// into p. It is called after the file is read, so overrides win.
func ApplyOverrides(p *Platform, v *viper.Viper) {
	if v == nil {
		return
	}
	set := func(key string, dst *string) {
		if s := v.GetString(key); s != "" {
			*dst = s
		}
	}
	set("profile", &p.Profile)
	set("cluster.provider", &p.Cluster.Provider)
	set("cluster.name", &p.Cluster.Name)
	set("cluster.kubeconfig", &p.Cluster.Kubeconfig)
	set("cluster.context", &p.Cluster.Context)
	set("sources.mirror", &p.Sources.Mirror)
	set("sources.cache-dir", &p.Sources.CacheDir)
}

// DefaultFile is the config file read when --config is not given.
const DefaultFile = "neuroscale.yaml"

// LoadOptions says where the configuration comes from.
type LoadOptions struct {
	// Path is the config file; "-" reads Stdin; "" means DefaultFile, which
	// may be absent (then built-in defaults apply).
	Path  string
	Stdin io.Reader
	// Viper carries flag and environment overrides; may be nil.
	Viper *viper.Viper
	// CommandLine holds the OverrideKeys a command-line flag set (as
	// opposed to the environment), for the choices that depend on what
	// the user typed: see selectProvider.
	CommandLine map[string]bool
}

// Load reads, overrides, resolves and validates the configuration. Every
// problem found by validation is returned at once.
func Load(o LoadOptions) (*Resolved, error) {
	return LoadContext(context.Background(), o)
}

// LoadContext is Load that gives up when ctx ends (Ctrl-C, SIGTERM): the
// file is read and parsed in a goroutine the caller stops waiting for, so a
// command never outlives its signal because of what a file holds.
func LoadContext(ctx context.Context, o LoadOptions) (*Resolved, error) {
	type loaded struct {
		r   *Resolved
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		r, err := load(o)
		done <- loaded{r, err}
	}()
	select {
	case l := <-done:
		return l.r, l.err
	case <-ctx.Done():
		return nil, fmt.Errorf("reading the configuration: %w", context.Cause(ctx))
	}
}

func load(o LoadOptions) (*Resolved, error) {
	path := o.Path
	explicit := path != ""
	if !explicit {
		path = DefaultFile
	}
	var p *Platform
	var doc *Document
	if path != "-" && !explicit {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			p = &Platform{APIVersion: APIVersion, Kind: KindPlatform}
		}
	}
	if p == nil {
		var err error
		p, doc, err = ReadPlatform(path, o.Stdin)
		if err != nil {
			return nil, err
		}
	}
	ApplyOverrides(p, o.Viper)
	note := selectProvider(p, o.CommandLine, doc)
	r, err := Resolve(p, doc)
	if err != nil {
		return nil, err
	}
	r.ProviderNote = note
	r.Warnings = YAML11Warnings(doc)
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

// selectProvider makes a kubeconfig or context named on the command line
// mean the existing cluster it names, whatever cluster.provider the file
// (or the default, k3d) says: otherwise `up --kubeconfig X` would create a
// k3d cluster and write its kubeconfig to X. --provider still decides when
// given. It returns a note saying what it overrode, "" when nothing.
func selectProvider(p *Platform, cl map[string]bool, doc *Document) string {
	if cl["cluster.provider"] || !cl["cluster.kubeconfig"] && !cl["cluster.context"] || p.Cluster.Provider == ProviderExisting {
		return ""
	}
	was := "the default k3d"
	if p.Cluster.Provider != "" {
		was = "cluster.provider: " + p.Cluster.Provider
		if pos := doc.Position("$.cluster.provider"); pos != "" {
			was += " (" + pos + ")"
		}
	}
	p.Cluster.Provider = ProviderExisting
	return fmt.Sprintf("--kubeconfig/--context name an existing cluster: using it instead of %s; --provider k3d keeps k3d", was)
}
