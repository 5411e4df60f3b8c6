package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
)

func newForwardCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forward [NAME...]",
		Short: "Open the platform's port-forwards on 127.0.0.1 and keep them up until Ctrl-C",
		Long: `forward opens the port-forwards of the configuration (Backstage, ArgoCD and the
demo predictor by default; forwards: in neuroscale.yaml) on 127.0.0.1, each to a
ready pod behind its Service, and keeps them up: each is probed through its
tunnel and re-opened when the tunnel dies, its pod is replaced or the probe
fails. Every change is printed as it happens. NAME limits it to those forwards.
neuroscale up runs the same supervisor at its end unless --no-forward.`,
		Example: "  neuroscale forward\n  neuroscale forward backstage",
		RunE: func(cmd *cobra.Command, args []string) error {
			r, acc, err := g.loadPlatform(cmd.Context())
			if err != nil {
				return err
			}
			fwds, err := pickForwards(r.Forwards, args)
			if err != nil {
				return err
			}
			names := make([]string, len(fwds))
			for i, f := range fwds {
				names[i] = f.Name
			}
			s, err := forward.New(forward.Options{REST: acc.REST, Forwards: fwds, Log: g.log, OnEvent: g.forwardEvents(names)})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.streams.Err, "Forwarding %s on 127.0.0.1 (context %s); Ctrl-C stops.\n", strings.Join(names, ", "), acc.Context)
			return s.Run(cmd.Context())
		},
	}
}

// forwardEvents prints forward events: aligned lines, or one JSON object
// per line with -o json.
func (g *globals) forwardEvents(names []string) func(forward.Event) {
	if g.output != "json" {
		return forward.NewPrinter(g.streams.Out, names)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(g.streams.Out)
	return func(e forward.Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
}

// pickForwards returns the forwards named in names, all when names is
// empty.
func pickForwards(all []config.Forward, names []string) ([]config.Forward, error) {
	if len(all) == 0 {
		return nil, &hintedError{err: fmt.Errorf("no forwards are configured"), hint: "add forwards: to neuroscale.yaml or use a profile that has them (dev, prod)"}
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []config.Forward
	var known []string
	for _, f := range all {
		known = append(known, f.Name)
	}
	for _, n := range names {
		found := false
		for _, f := range all {
			if f.Name == n {
				out = append(out, f)
				found = true
			}
		}
		if !found {
			return nil, &hintedError{err: fmt.Errorf("no forward named %q", n), hint: "configured forwards: " + strings.Join(known, ", ")}
		}
	}
	return out, nil
}

// loadPlatform loads the configuration and the access to its cluster, for
// the commands that look at a running platform.
func (g *globals) loadPlatform(ctx context.Context) (*config.Resolved, *cluster.Access, error) {
	r, err := g.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	acc, err := platformAccess(r)
	if err != nil {
		return nil, nil, err
	}
	return r, acc, nil
}

// platformAccess reaches the platform's cluster without creating or
// changing anything: the kubeconfig and context of the configuration, and
// for k3d the context k3d names after the cluster (k3d-NAME) when none is
// set.
func platformAccess(r *config.Resolved) (*cluster.Access, error) {
	ctxName := r.Cluster.Context
	if ctxName == "" && r.Cluster.Provider == config.ProviderK3d {
		ctxName = "k3d-" + r.Cluster.Name
	}
	acc, err := cluster.LoadAccess(r.Cluster.Kubeconfig, ctxName)
	if err != nil {
		return nil, &hintedError{err: err, hint: "run neuroscale up first, or point --kubeconfig/--context at the platform's cluster"}
	}
	return acc, nil
}

// hintedError is an error with what to do next, for the top-level printer.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }
func (e *hintedError) Hint() string  { return e.hint }

// superviseAfterUp is how up ends (internal/cli/up.go calls it once the
// platform converged): with noForward, verify through temporary forwards
// and return; otherwise open the forwards, wait up to wait for them, run
// verify through them and print it, then keep supervising in the
// foreground until ctx ends (Ctrl-C). A failed verify is printed and,
// without forwards, returned as exit code 1; with forwards the supervisor
// keeps running so the user can look, and Ctrl-C ends it normally.
func (g *globals) superviseAfterUp(ctx context.Context, r *config.Resolved, cfg *rest.Config, noForward bool, wait time.Duration) error {
	if noForward || len(r.Forwards) == 0 {
		return g.verifyThroughForwards(ctx, r, cfg, wait)
	}
	return g.superviseForwards(ctx, r, cfg, func(s *forward.Supervisor) error {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if err := s.WaitUp(wctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(g.streams.Err, "Not every forward is up yet (%v); verifying what is.\n", err)
		}
		var exit *ExitError
		if err := g.printVerify(ctx, r, cfg, s.Endpoints()); err != nil && !errors.As(err, &exit) {
			return err
		}
		return nil
	})
}

// superviseForwards opens r's forwards, printing their changes, runs then
// (when not nil) while they are up, and keeps them up until ctx ends
// (Ctrl-C). up --no-verify can call it with a nil then.
func (g *globals) superviseForwards(ctx context.Context, r *config.Resolved, cfg *rest.Config, then func(*forward.Supervisor) error) error {
	names := make([]string, len(r.Forwards))
	for i, f := range r.Forwards {
		names[i] = f.Name
	}
	s, err := forward.New(forward.Options{REST: cfg, Forwards: r.Forwards, Log: g.log, OnEvent: g.forwardEvents(names)})
	if err != nil {
		return err
	}
	stop := s.Start(ctx)
	defer stop()
	if then != nil {
		if err := then(s); err != nil {
			return err
		}
	}
	fmt.Fprintln(g.streams.Err, "Forwards stay up and are re-opened when they fail; Ctrl-C stops.")
	<-ctx.Done()
	return nil
}
