package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/endpoints"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
)

// statusOptions are status's own flags.
type statusOptions struct {
	// endpointsOnly prints the endpoints alone; it needs no cluster unless
	// showPassword.
	endpointsOnly bool
	showPassword  bool
}

// statusResult is status with -o json|yaml: the components, and every
// endpoint with what it is for and how to sign in.
type statusResult struct {
	*engine.PlatformStatus
	Endpoints []endpoints.Endpoint `json:"endpoints"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each component's version, profile, health, last apply and endpoints",
		Long: `status reads what neuroscale recorded in the cluster (namespace
neuroscale-system) and looks once at every object each component applied:
Ready, Progressing, Failed, or Absent when it was never installed. It changes
nothing and does not wait. It then lists each endpoint: its URL, what it is for
and how to sign in. ArgoCD's admin password is read from its Secret only with
--show-password.

-o json prints {"profile": "dev", "components": [{"name": "backstage",
"version": "2.8.2", "status": "Ready", ...}], "endpoints": [{"name", "url",
"service", "purpose", "signIn"}]}.`,
		Example: "  neuroscale status\n  neuroscale status --endpoints --show-password",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), g, o)
		},
	}
	cmd.Flags().BoolVar(&o.endpointsOnly, "endpoints", false, "list only the endpoints (no cluster needed unless --show-password)")
	cmd.Flags().BoolVar(&o.showPassword, "show-password", false, "also print ArgoCD's admin password, read from Secret argocd/argocd-initial-admin-secret")
	return cmd
}

func runStatus(ctx context.Context, g *globals, o statusOptions) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	r, err := g.load(ctx)
	if err != nil {
		return err
	}
	eps := endpoints.List(r)
	if o.endpointsOnly && !o.showPassword {
		return g.printEndpoints(eps)
	}
	access, err := reach(ctx, r)
	if err != nil {
		return err
	}
	if o.showPassword {
		if err := endpoints.AddPassword(ctx, access.REST, eps); err != nil {
			return err
		}
	}
	if o.endpointsOnly {
		return g.printEndpoints(eps)
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
	if g.structured() {
		return g.writeResult(statusResult{PlatformStatus: st, Endpoints: eps})
	}
	if err := printStatus(g, st); err != nil {
		return err
	}
	fmt.Fprintln(g.streams.Out)
	return g.printEndpoints(eps)
}

// printEndpoints prints eps as a table with how to open them, or as a
// list with -o json|yaml.
func (g *globals) printEndpoints(eps []endpoints.Endpoint) error {
	if g.structured() {
		return g.writeResult(eps)
	}
	if len(eps) == 0 {
		fmt.Fprintln(g.streams.Out, "No forwards configured: no endpoints.")
		return nil
	}
	if err := endpoints.WriteText(g.streams.Out, eps); err != nil {
		return err
	}
	fmt.Fprintln(g.streams.Out, "Open them with neuroscale forward; neuroscale up keeps them open.")
	return nil
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
