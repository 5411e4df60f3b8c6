package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"

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
		Example:           "  neuroscale forward\n  neuroscale forward backstage",
		ValidArgsFunction: completeForwards(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, acc, err := g.reachPlatform(cmd.Context())
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

// hintedError is an error with what to do next, for the top-level printer.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }
func (e *hintedError) Hint() string  { return e.hint }
