package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/engine"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each component's version, profile, health, last apply and endpoints",
		Long: "status reads what neuroscale recorded in the cluster (namespace neuroscale-system) and looks once at " +
			"every object each component applied: Ready, Progressing, Failed, or Absent when it was never " +
			"installed. It changes nothing and does not wait. -o json prints one object: " +
			`{"profile": "dev", "components": [{"name": "backstage", "version": "2.8.2", "status": "Ready", ...}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), g)
		},
	}
}

func runStatus(ctx context.Context, g *globals) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	r, access, err := g.loadPlatform(ctx)
	if err != nil {
		return err
	}
	eng, err := engine.New(access.REST, engine.Options{Log: g.log})
	if err != nil {
		return err
	}
	var names []string
	for _, c := range r.Components {
		if c.Enabled {
			names = append(names, c.Name)
		}
	}
	st, err := eng.Status(ctx, names, r.Forwards, r.Profile)
	if err != nil {
		return err
	}
	if g.output == "json" {
		enc := json.NewEncoder(g.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStatus(g, st)
}

func printStatus(g *globals, st *engine.PlatformStatus) error {
	fmt.Fprintf(g.streams.Out, "Profile: %s\n", st.Profile)
	tw := tabwriter.NewWriter(g.streams.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tSTATUS\tLAST APPLIED\tENDPOINTS")
	var notes []string
	for _, c := range st.Components {
		var eps []string
		for _, e := range c.Endpoints {
			eps = append(eps, e.URL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, dash(c.Version), c.Status, dash(c.LastApplied), dash(strings.Join(eps, " ")))
		if c.Message != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", c.Name, c.Message))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(g.streams.Out, n)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
