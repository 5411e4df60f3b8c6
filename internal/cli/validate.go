package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/validate"
)

// newValidateCmd renders the whole platform, without a cluster, and checks
// it with the platform rules (validate.Run). Any error exits 1; warnings
// are printed but pass.
func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and the rendered platform against neuroscale's rules",
		Long: "validate renders every enabled component exactly as `up` would, without a cluster, and checks the " +
			"result: Backstage's catalog rules, auth, title, base URL and probes, chart values no chart reads, " +
			"Knative's ingress class, the Kyverno policies and the demo that must pass them, literal secrets. " +
			"Each finding has a rule ID, the object, the values path, the line in neuroscale.yaml and the fix. " +
			"It exits 1 when any finding is an error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.load(cmd.Context())
			if err != nil {
				return err
			}
			ctx, cancel := g.withTimeout(cmd.Context())
			defer cancel()
			p, err := render.Render(ctx, r, render.Options{Log: g.log})
			if err != nil {
				return fmt.Errorf("render the platform: %w", err)
			}
			rep := validate.Run(r, p)
			if err := writeReport(g, rep); err != nil {
				return err
			}
			if rep.Errors() > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

// writeReport prints the findings on standard output (one line each, or
// the report as JSON) and a summary on standard error.
func writeReport(g *globals, rep validate.Report) error {
	if g.structured() {
		if err := g.writeResult(rep); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Findings {
			if _, err := fmt.Fprintln(g.streams.Out, f.String()); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
	}
	errs := rep.Errors()
	fmt.Fprintf(g.streams.Err, "validate: profile %s: %d error(s), %d warning(s)\n", rep.Profile, errs, len(rep.Findings)-errs)
	return nil
}
