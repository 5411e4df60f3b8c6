package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/validate"
	"github.com/neuroscale-dev/neuroscale/stages"
)

// upOptions are up's own flags.
type upOptions struct {
	noForward bool
	noVerify  bool
	reapply   bool
	recreate  bool
	retain    bool
}

func newUpCmd(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Install or update the platform and wait until every component is really Ready",
		Long: "up creates the k3d cluster (cluster.provider: k3d) or uses the kubeconfig's (existing), renders every " +
			"enabled component, validates it, and installs it in dependency order, independent components in " +
			"parallel, each waited for with kstatus, its workloads' own probe budgets and its admission webhooks " +
			"answering. What is already installed and unchanged is only checked, so a second up takes seconds. " +
			"Ctrl-C stops cleanly; the next up finishes the job.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUp(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noForward, "no-forward", false, "converge (and verify) and exit, without supervising port-forwards")
	f.BoolVar(&o.noVerify, "no-verify", false, "skip the end-to-end checks after converging (the template in the catalog, a prediction)")
	f.BoolVar(&o.reapply, "reapply", false, "apply every component even when nothing changed (repairs edits made by hand)")
	f.BoolVar(&o.recreate, "recreate", false, "k3d: delete the cluster and create it anew")
	f.BoolVar(&o.retain, "retain", false, "k3d: keep a cluster whose creation failed, to look at")
	return cmd
}

// UpResult is up's result on standard output with -o json (after the
// progress events).
type UpResult struct {
	Profile   string            `json:"profile"`
	Seconds   float64           `json:"duration_s"`
	Stages    []UpStage         `json:"stages"`
	Endpoints []engine.Endpoint `json:"endpoints"`
}

// UpStage is one stage's outcome in UpResult.
type UpStage struct {
	Name    string   `json:"name"`
	Needs   []string `json:"needs"`
	State   string   `json:"state"`
	Seconds float64  `json:"duration_s"`
}

func runUp(ctx context.Context, g *globals, o upOptions) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	start := time.Now()
	// load also validates the configuration, reporting every problem.
	r, err := g.load()
	if err != nil {
		return err
	}
	access, err := provider(g, r, k3d.Options{Recreate: o.recreate, Retain: o.retain}).Ensure(ctx)
	if err != nil {
		return err
	}
	// Secrets are read and checked before anything changes; their
	// checksums go into the consumers' pod templates, so a changed value
	// changes the consumer's digest and rolls its pods.
	prep, err := secrets.Prepare(ctx, access.REST, r, secrets.Options{
		LookupEnv: secretEnvLookup(g.env), Terminal: secrets.StdinTerminal(g.streams.In), PromptOut: g.streams.Err, Log: g.log,
	})
	if err != nil {
		return err
	}
	for _, w := range prep.Warnings {
		fmt.Fprintln(g.streams.Err, "warning:", w.String())
	}
	p, err := render.Render(ctx, r, render.Options{Log: g.log, Inputs: content.Inputs{SecretChecksums: prep.Checksums}})
	if err != nil {
		return fmt.Errorf("render the platform: %w", err)
	}
	if err := checkPlatform(g.streams.Err, r, p); err != nil {
		return err
	}
	eng, err := engine.New(access.REST, engine.Options{Log: g.log, Reapply: o.reapply, Samples: stages.Samples(), Hooks: secretHooks(g, p, prep)})
	if err != nil {
		return err
	}
	if err := eng.Prepare(ctx, r.Profile); err != nil {
		return err
	}
	if g.output != "json" {
		printPlan(g.streams.Err, eng.Plan(p))
	}
	graph, err := stages.Up(eng, p, r)
	if err != nil {
		return err
	}
	report, err := g.runStages(ctx, graph)
	if err != nil {
		return err
	}
	if err := eng.Finish(ctx); err != nil {
		return err
	}
	if err := printUp(g, r, report, time.Since(start)); err != nil {
		return err
	}
	return finishUp(ctx, g, r, access.REST, o)
}

// runStages runs a stage graph with progress on standard error, or as
// JSON events on standard output with -o json.
func (g *globals) runStages(ctx context.Context, graph []dag.Stage) (*dag.Report, error) {
	progressTo := g.streams.Err
	if g.output == "json" {
		progressTo = g.streams.Out
	}
	rep := progress.New(progressTo, g.output, g.env, nil)
	report, err := dag.Run(ctx, graph, dag.RunOptions{Sink: rep, Log: g.log})
	_ = rep.Close()
	return report, err
}

// forwardWait bounds how long up waits for its port-forwards to open
// before verifying through what is open.
const forwardWait = 30 * time.Second

// finishUp is how up ends once converged: verify end to end and keep the
// port-forwards up until Ctrl-C (package forward and verify, through
// superviseAfterUp); --no-forward exits after verifying, --no-verify skips
// the checks.
func finishUp(ctx context.Context, g *globals, r *config.Resolved, cfg *rest.Config, o upOptions) error {
	switch {
	case !o.noVerify:
		return g.superviseAfterUp(ctx, r, cfg, o.noForward, forwardWait)
	case o.noForward || len(r.Forwards) == 0:
		return nil
	}
	return g.superviseForwards(ctx, r, cfg, nil)
}

// secretHooks puts the Secret into the cluster right before the component
// that runs its consumers is applied (its pods read it with envFrom and do
// not start without it), and checks inside the running containers, by
// length only, that the values arrived once that component is Ready.
func secretHooks(g *globals, p *render.Platform, prep *secrets.Prepared) map[string]engine.Hooks {
	hooks := map[string]engine.Hooks{}
	// Readers take the whole Secret with envFrom; consumers read one key.
	// Either way their pods need the Secret to exist, even empty.
	for _, consumer := range append(append([]string(nil), prep.Merged.Readers...), prep.Merged.Consumers()...) {
		ns, name, _ := strings.Cut(consumer, "/")
		for _, c := range p.Components {
			if _, done := hooks[c.Name]; done || !runs(c, ns, name) {
				continue
			}
			hooks[c.Name] = engine.Hooks{
				BeforeApply: func(ctx context.Context, env engine.HookEnv) error { return prep.Apply(ctx, env.REST) },
				AfterReady: func(ctx context.Context, env engine.HookEnv) error {
					warns, err := prep.Verify(ctx, env.REST, env.Log)
					for _, w := range warns {
						fmt.Fprintln(g.streams.Err, "warning:", w.String())
					}
					return err
				},
			}
		}
	}
	return hooks
}

// runs reports whether c renders the workload ns/name.
func runs(c *render.Component, ns, name string) bool {
	for _, o := range c.Objects() {
		if o.GetNamespace() == ns && o.GetName() == name && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
			return true
		}
	}
	return false
}

// provider picks the cluster provider the configuration names.
func provider(g *globals, r *config.Resolved, opts k3d.Options) cluster.Provider {
	if r.Cluster.Provider == config.ProviderK3d {
		return k3d.New(r, g.log, opts)
	}
	return cluster.NewExisting(r)
}

// checkPlatform runs the platform rules on what is about to be applied:
// warnings are printed, errors stop up before anything changes.
func checkPlatform(w io.Writer, r *config.Resolved, p *render.Platform) error {
	rep := validate.Run(r, p)
	var errs []string
	for _, f := range rep.Findings {
		if f.Severity == validate.Error {
			errs = append(errs, f.String())
		} else {
			fmt.Fprintln(w, "warning:", f.String())
		}
	}
	if len(errs) > 0 {
		return &InvalidPlatformError{Findings: errs}
	}
	return nil
}

// InvalidPlatformError is a rendered platform that breaks platform rules.
type InvalidPlatformError struct{ Findings []string }

// Error implements error.
func (e *InvalidPlatformError) Error() string {
	return fmt.Sprintf("the rendered platform breaks %d rule(s), nothing was applied:\n  %s", len(e.Findings), strings.Join(e.Findings, "\n  "))
}

// Hint implements Hinter.
func (e *InvalidPlatformError) Hint() string {
	return "fix the findings (neuroscale validate lists them with their lines) and run neuroscale up again"
}

func printPlan(w io.Writer, plan []engine.PlanEntry) {
	var change []string
	for _, pe := range plan {
		switch pe.Action {
		case "check":
		case "upgrade":
			if pe.FromVersion != pe.ToVersion && pe.FromVersion != "" {
				change = append(change, fmt.Sprintf("%s (%s → %s)", pe.Component, pe.FromVersion, pe.ToVersion))
			} else {
				change = append(change, pe.Component+" (changed)")
			}
		default:
			change = append(change, fmt.Sprintf("%s (%s)", pe.Component, pe.Action))
		}
	}
	if len(change) == 0 {
		fmt.Fprintln(w, "Nothing changed; checking health.")
		return
	}
	fmt.Fprintf(w, "Applying: %s\n", strings.Join(change, ", "))
}

func printUp(g *globals, r *config.Resolved, report *dag.Report, took time.Duration) error {
	var eps []engine.Endpoint
	for _, f := range r.Forwards {
		eps = append(eps, engine.Endpoint{Name: f.Name, URL: f.URL(), Service: f.Namespace + "/" + f.Service})
	}
	if g.output == "json" {
		res := UpResult{Profile: r.Profile, Seconds: took.Seconds(), Endpoints: eps}
		if res.Endpoints == nil {
			res.Endpoints = []engine.Endpoint{}
		}
		for _, s := range report.Stages {
			res.Stages = append(res.Stages, UpStage{Name: s.Name, Needs: append([]string{}, s.Needs...), State: string(s.State), Seconds: s.Duration.Seconds()})
		}
		return json.NewEncoder(g.streams.Out).Encode(res)
	}
	fmt.Fprintf(g.streams.Out, "Platform ready (profile %s) in %s.\n", r.Profile, took.Round(100*time.Millisecond))
	if len(eps) == 0 {
		return nil
	}
	for _, e := range eps {
		fmt.Fprintf(g.streams.Out, "  %-10s %s\n", e.Name, e.URL)
	}
	return nil
}
