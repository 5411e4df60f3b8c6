package cli

import (
	"context"
	"time"

	"k8s.io/client-go/rest"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/platform"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the platform end to end and print each check's evidence",
		Long: `verify checks what the platform is for, through the port-forwards: the
model-endpoint Template is in Backstage's catalog; GET /api/scaffolder/v2/actions
answers 200; with guest sign-in, Backstage signs a guest in; the Template runs
through the scaffolder's dry-run with sample values and what it renders passes
a server-side dry-run apply; the catalog refuses no entity of its locations
(NotAllowedError, in its log or its verdict now); with a
GitOps repository, ArgoCD's Applications are Synced and Healthy; and the demo
model answers {"predictions":[1,1]}. It uses a running neuroscale forward when
one answers on the configured ports, and opens its own forwards otherwise.
It exits 1 when a check fails.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, acc, err := g.reachPlatform(cmd.Context())
			if err != nil {
				return err
			}
			return g.verifyThroughForwards(cmd.Context(), r, acc.REST, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "forward-wait", 30*time.Second, "how long to wait for the forwards the checks go through")
	return cmd
}

// verifyThroughForwards runs verify through a running neuroscale forward
// when one answers on the configured ports, else through forwards of its
// own for the duration; it prints the report and returns an *ExitError
// with code 1 when a check failed.
func (g *globals) verifyThroughForwards(ctx context.Context, r *config.Resolved, cfg *rest.Config, wait time.Duration) error {
	report, err := platform.Verify(ctx, r, cfg, wait, g.log)
	if err != nil {
		return err
	}
	if g.structured() {
		if err := g.writeResult(report); err != nil {
			return err
		}
	} else {
		report.WriteText(g.streams.Out)
	}
	if report.Failed() {
		return &ExitError{Code: 1}
	}
	return nil
}
