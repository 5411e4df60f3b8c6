// Command bench is the harness behind scripts/bench: it measures
// `neuroscale up` and `neuroscale render` against the sequential helm +
// kubectl install on fresh test clusters and prints a table (see
// the README (section Benchmarks)). scripts/bench builds the tools and passes their paths.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/neuroscale-dev/neuroscale/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        bench.Options
		quick    = fs.Bool("quick", false, "one pair, no delayed variant")
		smoke    = fs.Bool("smoke", false, "one pair of a three-component platform, to check the harness (CI); numbers mean nothing")
		laptop   = fs.Bool("laptop", false, "only the laptop variant (baseline, up, up --pre-pull on the laptop model), --pairs rounds")
		jsonFile = fs.String("json", "", "write the medians as JSON to this file")
		delays   = fs.String("delays", "", "delayed variant's pod readiness delays, SELECTOR=DURATION[;...] (default: bench.DefaultDelays)")
	)
	fs.IntVar(&o.Pairs, "pairs", 3, "pairs per variant in a full run")
	fs.IntVar(&o.RenderRuns, "render-runs", 5, "runs of each renderer (quick: 3, smoke: 1)")
	fs.StringVar(&o.Mirror, "mirror", "", "file:// mirror of the upstream fixtures")
	fs.StringVar(&o.Work, "work", "", "work directory (config, plan, cache, clusters, logs)")
	fs.StringVar(&o.Tools.Neuroscale, "neuroscale", "", "neuroscale binary")
	fs.StringVar(&o.Tools.Helm, "helm", "", "helm binary")
	fs.StringVar(&o.Tools.Kubectl, "kubectl", "", "kubectl binary")
	fs.StringVar(&o.Tools.TestCluster, "testcluster", "", "scripts/testcluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for flagName, v := range map[string]string{"mirror": o.Mirror, "work": o.Work, "neuroscale": o.Tools.Neuroscale, "helm": o.Tools.Helm, "kubectl": o.Tools.Kubectl, "testcluster": o.Tools.TestCluster} {
		if v == "" {
			return fmt.Errorf("--%s is required (scripts/bench sets it)", flagName)
		}
	}
	switch {
	case *laptop:
		o.Mode, o.RenderRuns = bench.Laptop, 1
	case *smoke:
		o.Mode, o.RenderRuns = bench.Smoke, 1
	case *quick:
		o.Mode, o.RenderRuns = bench.Quick, min(o.RenderRuns, 3)
	}
	o.Delays = bench.DefaultDelays()
	if *delays != "" {
		var err error
		if o.Delays, err = bench.ParseDelays(*delays); err != nil {
			return err
		}
	}
	work, err := filepath.Abs(o.Work)
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	o.Work, o.Progress = work, stderr

	res, err := bench.Execute(ctx, o)
	if err != nil {
		return err
	}
	s := bench.Summarize(res)
	if err := bench.WriteResults(filepath.Join(o.Work, "results.json"), res); err != nil {
		return err
	}
	if *jsonFile != "" {
		if err := bench.WriteJSON(*jsonFile, s); err != nil {
			return err
		}
	}
	return bench.WriteTable(stdout, res, s)
}
