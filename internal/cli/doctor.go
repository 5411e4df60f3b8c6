package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/doctor"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Name every known failure of the running platform, with evidence and fix",
		Long: `doctor inspects the running platform for every failure neuroscale knows of:
a Template the catalog rejected (log line), scaffolder actions answering 401,
a frontend config without app.title, Backstage probes that differ from the
configuration, an empty or placeholder secret (length only) or one newer than
the pods using it, objects changed by hand since neuroscale applied them, an
admission webhook Service without ready endpoints, Traefik, an InferenceService
that is not Ready, Knative without Kourier as ingress class, a dead or absent
port-forward, and a Helm release stuck pending.

Exit codes: 0 it found nothing, 1 it found something, 3 it could not check
(the cluster is unreachable, the kubeconfig or the configuration is wrong).
A single check that cannot look prints a note on standard error instead.
-o json prints {"findings": [{"id", "object", "message", "fix", "evidence"}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runDoctor(cmd.Context(), g, wait); err != nil {
				var exit *ExitError
				if errors.As(err, &exit) || cmd.Context().Err() != nil {
					return err
				}
				return &ExitError{Code: exitCouldNotCheck, Err: err}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "forward-wait", 20*time.Second, "how long to wait for a forward to Backstage when none is running")
	return cmd
}

// exitCouldNotCheck is doctor's exit code when it could not look at the
// platform at all, so a script tells "broken" (1) from "unknown" (3).
const exitCouldNotCheck = 3

// runDoctor runs every check and prints the report; findings make it
// return an *ExitError with code 1, anything that stopped it from
// checking is returned as it is.
func runDoctor(ctx context.Context, g *globals, wait time.Duration) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	r, acc, err := g.reachPlatform(ctx)
	if err != nil {
		return err
	}
	o := doctor.Options{Config: r, REST: acc.REST, Log: g.log}
	// Backstage's API is asked through a forward: the one running
	// on the configured port when it answers, else one of our own,
	// so the answer is about Backstage and not about the forward
	// (which checkForwards judges separately).
	if f := verify.BackstageForward(r); f != nil {
		eps, stop, err := forward.Reach(ctx, forward.Options{REST: acc.REST, Forwards: []config.Forward{*f}, Log: g.log}, wait)
		if err != nil {
			return err
		}
		defer stop()
		o.BackstageURL, o.BackstageErr = eps[0].URL, eps[0].Err
	}
	rep, err := doctor.Run(ctx, o)
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(g.streams.Err, "note:", n)
	}
	if g.structured() {
		if err := g.writeResult(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(g.streams.Out)
	}
	if len(rep.Findings) > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}
