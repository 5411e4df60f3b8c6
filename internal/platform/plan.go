package platform

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/stages"
)

// UpPlan is what Up would do, worked out from the configuration alone:
// `up --dry-run` prints it. Nothing in it touches Docker or a cluster.
type UpPlan struct {
	// Cluster is a k3d.ClusterPlan, or an ExistingCluster.
	Cluster any `json:"cluster"`
	// Components are applied in this order, each after its needs.
	Components []stages.Planned `json:"components"`
}

// ExistingCluster is the cluster part of the plan with cluster.provider:
// existing: which kubeconfig and context up would use.
type ExistingCluster struct {
	Provider   string `json:"provider"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}

// Plan loads the configuration as Up does and returns Up's plan for it:
// the cluster from k3d.Plan (a pure function of the resolved config) and
// the components in the order stages.Plan gives.
func Plan(ctx context.Context, opts config.LoadOptions) (*UpPlan, error) {
	r, err := config.LoadContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, err
	}
	p := &UpPlan{Components: stages.Plan(cat, r)}
	if r.Cluster.Provider == config.ProviderK3d {
		p.Cluster = k3d.Plan(r)
	} else {
		p.Cluster = ExistingCluster{Provider: r.Cluster.Provider, Kubeconfig: r.Cluster.Kubeconfig, Context: r.Cluster.Context}
	}
	return p, nil
}

// WriteText prints the plan for a person.
func (p *UpPlan) WriteText(w io.Writer) error {
	switch c := p.Cluster.(type) {
	case k3d.ClusterPlan:
		if err := c.WriteText(w); err != nil {
			return err
		}
	case ExistingCluster:
		kc, ctx := c.Kubeconfig, c.Context
		if kc == "" {
			kc = "the default kubeconfig"
		}
		if ctx == "" {
			ctx = "its current context"
		}
		fmt.Fprintf(w, "existing cluster: %s of %s\n", ctx, kc)
	}
	var b strings.Builder
	b.WriteString("components, applied in this order (each after what it needs):\n")
	for i, c := range p.Components {
		v := c.Version
		if v == "" {
			v = "(neuroscale's own)"
		}
		fmt.Fprintf(&b, "  %d. %s %s, namespace %s", i+1, c.Name, v, c.Namespace)
		if len(c.Needs) > 0 {
			fmt.Fprintf(&b, ", after %s", strings.Join(c.Needs, ", "))
		}
		for _, s := range c.Steps {
			fmt.Fprintf(&b, "\n       step %s ", s.Name)
			if after := append(slices.Clone(s.Needs), s.After...); len(after) > 0 {
				fmt.Fprintf(&b, "after %s", strings.Join(after, ", "))
			} else {
				b.WriteString("at once")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
