package stages

import (
	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/stages/components"
)

// Planned is a component that `up` would apply.
type Planned struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Version is the pinned upstream version; empty for neuroscale's own.
	Version string `json:"version,omitempty"`
	// Needs are what its steps wait for, as in the graph Up builds:
	// "name" for a component Ready, "name/step" for one up to that step.
	// Steps lists the steps that wait for something else.
	Needs []string      `json:"needs"`
	Steps []PlannedStep `json:"steps,omitempty"`
}

// PlannedStep is a step of a component that waits for other things than
// the component's Needs (stages/components declares it).
type PlannedStep struct {
	Name  string   `json:"name"`
	Needs []string `json:"needs"`
	// After are components it goes in after without needing them.
	After []string `json:"after,omitempty"`
}

// Plan lists the components r enables, in the catalog's install order,
// each with the needs Up would give its stages. It renders nothing and
// needs no cluster, so `up --dry-run` can show it offline.
func Plan(cat *catalog.Catalog, r *config.Resolved) []Planned {
	enabled := map[string]bool{}
	for _, c := range cat.Components {
		enabled[c.Name] = r.Enabled(c.Name)
	}
	steps := map[string][]string{}
	for _, c := range cat.Components {
		if !enabled[c.Name] {
			continue
		}
		for _, s := range c.Steps {
			steps[c.Name] = append(steps[c.Name], s.Name())
		}
	}
	out := []Planned{}
	for _, c := range cat.Components {
		if !enabled[c.Name] {
			continue
		}
		// A step the graph does not declare waits for the component's
		// needs (the empty step).
		needs, _ := components.Scheduled(c.Name, "", steps)
		pl := Planned{Name: c.Name, Namespace: c.Namespace, Version: c.Version, Needs: needs}
		for _, s := range steps[c.Name] {
			if !components.Declares(c.Name, s) {
				continue
			}
			needs, after := components.Scheduled(c.Name, s, steps)
			pl.Steps = append(pl.Steps, PlannedStep{Name: s, Needs: needs, After: after})
		}
		out = append(out, pl)
	}
	return out
}
