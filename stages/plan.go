package stages

import (
	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Planned is a component that `up` would apply.
type Planned struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Version is the pinned upstream version; empty for neuroscale's own.
	Version string `json:"version,omitempty"`
	// Needs are the components it waits for, as in the graph Up builds.
	Needs []string `json:"needs"`
}

// Plan lists the components r enables, in the catalog's install order,
// each with the needs Up would give its stage. It renders nothing and
// needs no cluster, so `up --dry-run` can show it offline.
func Plan(cat *catalog.Catalog, r *config.Resolved) []Planned {
	enabled := map[string]bool{}
	for _, c := range cat.Components {
		enabled[c.Name] = r.Enabled(c.Name)
	}
	out := []Planned{}
	for _, c := range cat.Components {
		if enabled[c.Name] {
			out = append(out, Planned{Name: c.Name, Namespace: c.Namespace, Version: c.Version, Needs: keptNeeds(c.Needs, enabled)})
		}
	}
	return out
}

// keptNeeds drops the needs on components that are not enabled: validation
// has already judged whether that is allowed.
func keptNeeds(needs []string, enabled map[string]bool) []string {
	out := []string{}
	for _, n := range needs {
		if enabled[n] {
			out = append(out, n)
		}
	}
	return out
}
