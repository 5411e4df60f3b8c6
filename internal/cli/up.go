package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/dag"
	"github.com/neuroscale-dev/neuroscale/internal/endpoints"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/forward"
	"github.com/neuroscale-dev/neuroscale/internal/platform"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/verify"
)

// upOptions are up's own flags.
type upOptions struct {
	noForward bool
	noVerify  bool
	reapply   bool
	recreate  bool
	retain    bool
	noWait    bool
	dryRun    bool
	// prePull is --pre-pull; prePullSet says it was given, since its
	// default depends on the cluster provider.
	prePull    bool
	prePullSet bool
}

func newUpCmd(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Install or update the platform and wait until every component is really Ready",
		Long: "up checks the machine (preflight), downloads, renders and validates every enabled component, and only " +
			"then creates the k3d cluster (cluster.provider: k3d) or uses the kubeconfig's (existing), so a bad " +
			"download, a broken rule or a busy port stops it before anything exists. It installs the components in " +
			"dependency order, independent ones in parallel, each waited for with kstatus, its workloads' own probe " +
			"budgets and its admission webhooks answering, then verifies the platform end to end. What is already " +
			"installed and unchanged is only checked, so a second up takes seconds. Ctrl-C stops cleanly; the next " +
			"up finishes the job.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.prePullSet = cmd.Flags().Changed("pre-pull")
			return runUp(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noForward, "no-forward", false, "converge (and verify) and exit, without supervising port-forwards")
	f.BoolVar(&o.noVerify, "no-verify", false, "skip the end-to-end checks after converging (the template in the catalog, a prediction)")
	f.BoolVar(&o.reapply, "reapply", false, "apply every component even when nothing changed (repairs edits made by hand)")
	f.BoolVar(&o.recreate, "recreate", false, "k3d: delete the cluster and create it anew")
	f.BoolVar(&o.retain, "retain", false, "k3d: keep a cluster whose creation failed, to look at")
	f.BoolVar(&o.noWait, "no-wait", false, "fail at once, naming it, when another up is changing the cluster, instead of waiting for it")
	f.BoolVar(&o.prePull, "pre-pull", false, "pull every image of the platform onto the nodes while the components install (default: on for k3d, off for an existing cluster)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print what up would create and apply (cluster, pinned images, ports, networks, volumes, caches, components in order), touching neither Docker nor a cluster")
	return cmd
}

// UpResult is up's result on standard output with -o json (after the
// progress events).
type UpResult struct {
	Profile   string               `json:"profile"`
	Seconds   float64              `json:"duration_s"`
	Verified  bool                 `json:"verified"`
	Stages    []UpStage            `json:"stages"`
	Endpoints []endpoints.Endpoint `json:"endpoints"`
	// CriticalPath is the longest chain of dependent stage work, the
	// lower bound of any parallel install of this graph.
	CriticalPath UpCriticalPath `json:"critical_path"`
}

// UpStage is one stage's outcome in UpResult.
type UpStage struct {
	Name    string   `json:"name"`
	Needs   []string `json:"needs"`
	State   string   `json:"state"`
	Seconds float64  `json:"duration_s"`
	// Phases are the steps of a stage whose steps need different things.
	Phases []UpPhase `json:"phases,omitempty"`
}

// UpPhase is one phase (step) of a stage in UpResult: its extra needs
// and its work, without the wait for them.
type UpPhase struct {
	Name    string   `json:"name"`
	Needs   []string `json:"needs"`
	Seconds float64  `json:"duration_s"`
}

// UpCriticalPath is the critical path in UpResult: stages, or phases as
// "stage/step".
type UpCriticalPath struct {
	Stages  []string `json:"stages"`
	Seconds float64  `json:"duration_s"`
}

// runUp maps up's flags to platform.Up and prints what it reports.
func runUp(ctx context.Context, g *globals, o upOptions) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	if o.dryRun {
		plan, err := platform.Plan(ctx, g.loadOptions())
		if err != nil {
			return err
		}
		if g.output == "json" {
			return json.NewEncoder(g.streams.Out).Encode(plan)
		}
		return plan.WriteText(g.streams.Out)
	}
	sink := g.progressSink()
	defer sink.Close()
	var prePull *bool
	if o.prePullSet {
		prePull = &o.prePull
	}
	_, err := platform.Up(ctx, platform.Options{
		PrePull:   prePull,
		Config:    g.loadOptions(),
		Cluster:   k3d.Options{Recreate: o.recreate, Retain: o.retain, Progress: progress.Writer(sink, g.streams.Err)},
		Reapply:   o.reapply,
		NoVerify:  o.noVerify,
		NoForward: o.noForward,
		NoWait:    o.noWait,
		Secrets: secrets.Options{
			LookupEnv: secretEnvLookup(g.env), Terminal: secrets.StdinTerminal(g.streams.In), PromptOut: g.streams.Err,
		},
		Sink:    sink,
		Printer: &upPrinter{g: g, sink: sink, forwarding: !o.noForward},
		Log:     g.log,
	})
	return err
}

// progressSink shows progress on standard error, or as JSON events on
// standard output with -o json.
func (g *globals) progressSink() progress.Sink {
	to := g.streams.Err
	if g.output == "json" {
		to = g.streams.Out
	}
	return progress.New(to, g.output, g.env, nil)
}

// runStages runs a stage graph with progress on standard error, or as
// JSON events on standard output with -o json.
func (g *globals) runStages(ctx context.Context, graph []dag.Stage) (*dag.Report, error) {
	sink := g.progressSink()
	report, err := dag.Run(ctx, graph, dag.RunOptions{Sink: sink, Log: g.log})
	_ = sink.Close()
	return report, err
}

// upPrinter prints what platform.Up reports besides progress: text on the
// terminal, one JSON object per line with -o json. Its methods may be
// called while the sink animates, so the text goes through the sink
// (progress.Println), which keeps the spinner's line whole.
type upPrinter struct {
	g    *globals
	sink progress.Sink
	// forwarding is false with --no-forward: up then ends after Ready.
	forwarding bool
	mu         sync.Mutex
}

// errw and outw are standard error and output through the sink.
func (p *upPrinter) errw() io.Writer { return progress.Writer(p.sink, p.g.streams.Err) }
func (p *upPrinter) outw() io.Writer { return progress.Writer(p.sink, p.g.streams.Out) }

func (p *upPrinter) Warning(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	progress.Println(p.sink, p.g.streams.Err, "warning: "+msg)
}

func (p *upPrinter) Plan(plan []engine.PlanEntry) {
	if p.g.output == "json" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	printPlan(p.errw(), plan)
}

func (p *upPrinter) Verified(report verify.Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.g.output == "json" {
		_ = json.NewEncoder(p.g.streams.Out).Encode(report)
		return
	}
	report.WriteText(p.outw())
}

func (p *upPrinter) Ready(res *platform.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.g.output == "json" {
		out := UpResult{Profile: res.Profile, Seconds: res.Took.Seconds(), Verified: res.Verified, Endpoints: res.Endpoints}
		for _, s := range res.Stages {
			st := UpStage{Name: s.Name, Needs: append([]string{}, s.Needs...), State: string(s.State), Seconds: s.Duration.Seconds()}
			for _, ph := range s.Phases {
				st.Phases = append(st.Phases, UpPhase{Name: ph.Name, Needs: append([]string{}, ph.Needs...), Seconds: ph.Duration.Seconds()})
			}
			out.Stages = append(out.Stages, st)
		}
		out.CriticalPath = UpCriticalPath{Stages: append([]string{}, res.CriticalPath...), Seconds: res.CriticalTook.Seconds()}
		_ = json.NewEncoder(p.g.streams.Out).Encode(out)
		return
	}
	took := res.Took.Round(100 * time.Millisecond)
	out := p.outw()
	if res.Verified {
		fmt.Fprintf(out, "Platform ready (profile %s) in %s.\n", res.Profile, took)
	} else {
		fmt.Fprintf(out, "Platform installed (profile %s) in %s; not verified (--no-verify).\n", res.Profile, took)
	}
	if len(res.Endpoints) == 0 {
		return
	}
	_ = endpoints.WriteText(out, res.Endpoints)
	if p.forwarding {
		fmt.Fprintln(p.errw(), "Forwards stay up and are re-opened when they fail; Ctrl-C stops.")
	} else {
		fmt.Fprintln(p.errw(), "Open them with neuroscale forward.")
	}
}

func (p *upPrinter) Forwards(names []string) func(forward.Event) {
	print := p.g.forwardEvents(names)
	if p.g.output != "json" {
		print = forward.NewPrinter(p.outw(), names)
	}
	return func(e forward.Event) {
		p.mu.Lock()
		defer p.mu.Unlock()
		print(e)
	}
}

func printPlan(w io.Writer, plan []engine.PlanEntry) {
	var change []string
	for _, pe := range plan {
		switch pe.Action {
		case engine.ActionCheck:
		case engine.ActionUpgrade:
			if pe.FromVersion != pe.ToVersion && pe.FromVersion != "" {
				change = append(change, fmt.Sprintf("%s (%s → %s)", pe.Component, pe.FromVersion, pe.ToVersion))
			} else {
				change = append(change, pe.Component+" (changed)")
			}
		default:
			if pe.Reason != "" {
				change = append(change, fmt.Sprintf("%s (%s: %s)", pe.Component, pe.Action, pe.Reason))
			} else {
				change = append(change, fmt.Sprintf("%s (%s)", pe.Component, pe.Action))
			}
		}
	}
	if len(change) == 0 {
		fmt.Fprintln(w, "Nothing changed; checking health.")
		return
	}
	fmt.Fprintf(w, "Applying: %s\n", strings.Join(change, ", "))
}
