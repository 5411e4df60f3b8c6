// Package cli is neuroscale's command layer: it turns flags into options
// and calls one package function per command. It prints errors once, at
// the top, with what to do next.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/logging"
)

// Streams are the standard streams a command reads and writes: progress
// goes to Err, results to Out.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// globals are the flags every command shares, and what they build.
type globals struct {
	streams    Streams
	env        []string
	configPath string
	verbose    bool
	output     string
	timeout    time.Duration
	viper      *viper.Viper
	// flags are the root's persistent flags, to tell what the command
	// line set from what the environment did.
	flags *pflag.FlagSet
	log   *slog.Logger
	prof  pprofFiles
}

// flagKeys maps the persistent flags that override the configuration to
// their config keys (config.OverrideKeys).
var flagKeys = map[string]string{
	"profile":    "profile",
	"provider":   "cluster.provider",
	"kubeconfig": "cluster.kubeconfig",
	"context":    "cluster.context",
	"mirror":     "sources.mirror",
}

// ExitError carries a specific exit code (for example 1 from doctor when
// it finds something) without printing anything more.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Execute runs neuroscale with args and returns the process exit code.
func Execute(ctx context.Context, s Streams, args []string, env []string) int {
	g := &globals{streams: s, env: env, viper: config.NewViper(env)}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if perr := g.prof.stop(); perr != nil && err == nil {
		err = perr
	}
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			printError(s.Err, ee.Err)
		}
		return ee.Code
	}
	printError(s.Err, err)
	// An error that carries its own exit code keeps it, even after
	// Ctrl-C: up that failed verification exits 1 however it ended.
	if code, ok := diag.ExitCode(err); ok {
		return code
	}
	if ctx.Err() != nil {
		return 130
	}
	return 1
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "Error: %v\n", err)
	if h := diag.Hint(err); h != "" {
		fmt.Fprintf(w, "Hint: %s\n", h)
	}
}

func newRoot(g *globals) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:           "neuroscale",
		Short:         "A working ML platform on your laptop or cluster in one command",
		Long:          "neuroscale installs cert-manager, Knative Serving with Kourier, KServe, ArgoCD, Kyverno and Backstage with the model-endpoint template, in dependency order, and waits until each is really ready.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return printVersion(g)
			}
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.log = logging.New(g.streams.Err, g.verbose)
			logging.RouteLibraryLogs(g.log)
			if err := g.prof.start(); err != nil {
				return err
			}
			return checkOutput(cmd, g.output)
		},
	}
	root.Flags().BoolVar(&showVersion, "version", false, "print the version, as the version command does")
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "", "config file (default ./neuroscale.yaml; - reads standard input)")
	pf.String("profile", "", "profile: dev, prod or one defined in the config (env NEUROSCALE_PROFILE)")
	pf.String("provider", "", "k3d (create a local cluster) or existing (use the kubeconfig's); default from the config, else k3d (env NEUROSCALE_CLUSTER_PROVIDER)")
	pf.String("kubeconfig", "", "kubeconfig of an existing cluster; implies --provider existing (env NEUROSCALE_CLUSTER_KUBECONFIG)")
	pf.String("context", "", "context in the kubeconfig; implies --provider existing (env NEUROSCALE_CLUSTER_CONTEXT)")
	pf.String("mirror", "", "file:// or http(s):// mirror of the upstream charts and manifests (env NEUROSCALE_SOURCES_MIRROR)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs, including Helm's and client-go's, on standard error")
	pf.StringVarP(&g.output, "output", "o", formatText, "output format: text, json or yaml, as each command allows")
	pf.DurationVar(&g.timeout, "timeout", 0, "overall time limit (0: derived from each workload's probes)")
	pf.StringVar(&g.prof.cpu, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof)")
	pf.StringVar(&g.prof.mem, "memprofile", "", "write a heap profile (allocations, live memory at the end) to this file")
	_ = pf.MarkHidden("cpuprofile")
	_ = pf.MarkHidden("memprofile")
	for flag, key := range flagKeys {
		_ = g.viper.BindPFlag(key, pf.Lookup(flag))
	}
	g.flags = pf

	// Each command declares the -o formats it writes: a stream of events
	// (up, down, forward) has no YAML form; render's yaml and json are the
	// objects themselves.
	all := []string{formatText, formatJSON, formatYAML}
	root.AddCommand(
		outputFormats(newUpCmd(g), formatText, formatJSON),
		outputFormats(newDownCmd(g), formatText, formatJSON),
		outputFormats(newStatusCmd(g), all...),
		outputFormats(newRenderCmd(g), all...),
		outputFormats(newValidateCmd(g), all...),
		outputFormats(newBundleCmd(g), all...),
		newSecretCmd(g),
		outputFormats(newForwardCmd(g), formatText, formatJSON),
		outputFormats(newVerifyCmd(g), all...),
		outputFormats(newDoctorCmd(g), all...),
		outputFormats(newVersionCmd(g), all...),
	)
	registerCompletions(g, root)
	return root
}

// load reads and resolves the configuration with flag and environment
// overrides applied, and prints what it has to say about it; it gives up
// when ctx ends.
func (g *globals) load(ctx context.Context) (*config.Resolved, error) {
	r, err := g.loadQuiet(ctx)
	if err != nil {
		return nil, err
	}
	if r.ProviderNote != "" {
		fmt.Fprintln(g.streams.Err, "note:", r.ProviderNote)
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(g.streams.Err, "warning:", w.Text())
	}
	return r, nil
}

// loadQuiet is load without printing, for completions.
func (g *globals) loadQuiet(ctx context.Context) (*config.Resolved, error) {
	return config.LoadContext(ctx, g.loadOptions())
}

// loadOptions say where the configuration comes from: --config, standard
// input, flags and environment, and which settings the command line set.
func (g *globals) loadOptions() config.LoadOptions {
	set := map[string]bool{}
	for flag, key := range flagKeys {
		if f := g.flags.Lookup(flag); f != nil && f.Changed {
			set[key] = true
		}
	}
	return config.LoadOptions{Path: g.configPath, Stdin: g.streams.In, Viper: g.viper, CommandLine: set}
}

// withTimeout applies --timeout to ctx when set.
func (g *globals) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.timeout > 0 {
		return context.WithTimeout(ctx, g.timeout)
	}
	return context.WithCancel(ctx)
}
