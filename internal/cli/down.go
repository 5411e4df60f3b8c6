package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/platform"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/stages"
)

func newDownCmd(g *globals) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the platform",
		Long: "down deletes the k3d cluster neuroscale created (cluster.provider: k3d). On an existing cluster it " +
			"uninstalls every component neuroscale recorded, dependents first, and waits until their objects are " +
			"gone. CRDs stay, and so do namespaces holding data (volume claims, InferenceServices, Applications), " +
			"unless --purge.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDown(cmd.Context(), g, purge)
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete CRDs, namespaces with data and (k3d) the image cache")
	return cmd
}

func runDown(ctx context.Context, g *globals, purge bool) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	r, err := g.load(ctx)
	if err != nil {
		return err
	}
	prov := platform.Provider(r, g.log, k3d.Options{Purge: purge})
	if r.Cluster.Provider == config.ProviderK3d {
		// The cluster is neuroscale's own: deleting it removes everything.
		if err := prov.Delete(ctx, purge); err != nil {
			return err
		}
		fmt.Fprintf(g.streams.Err, "Deleted k3d cluster %s.\n", r.Cluster.Name)
		return nil
	}
	access, err := prov.Ensure(ctx)
	if err != nil {
		return err
	}
	eng, err := engine.New(access.REST, engine.Options{Log: g.log})
	if err != nil {
		return err
	}
	if err := Down(ctx, eng, g, purge); err != nil {
		return err
	}
	// The Secret is applied by package secrets, outside the records.
	return secrets.Remove(ctx, access.REST, secrets.DefaultTarget())
}

// Down removes every recorded component from the engine's cluster,
// dependents first, then neuroscale's own records.
func Down(ctx context.Context, eng *engine.Engine, g *globals, purge bool) error {
	if err := eng.Load(ctx); err != nil {
		return err
	}
	graph := stages.Down(eng, engine.RemoveOptions{Purge: purge})
	if _, err := g.runStages(ctx, graph); err != nil {
		return err
	}
	if _, err := eng.Store().DeleteAll(ctx); err != nil {
		return err
	}
	if g.output != "json" {
		if len(graph) == 0 {
			fmt.Fprintln(g.streams.Err, "Nothing installed by neuroscale here.")
		} else {
			fmt.Fprintln(g.streams.Err, "Platform removed.")
		}
	}
	return nil
}
