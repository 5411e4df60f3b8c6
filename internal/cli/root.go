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

	"github.com/spf13/cobra"
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
	log        *slog.Logger
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

// Hinter is an error that knows what the user should do next.
type Hinter interface {
	Hint() string
}

// Execute runs neuroscale with args and returns the process exit code.
func Execute(ctx context.Context, s Streams, args []string, env []string) int {
	g := &globals{streams: s, env: env, viper: config.NewViper(env)}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
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
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	if ctx.Err() != nil {
		return 130
	}
	return 1
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "Error: %v\n", err)
	var h Hinter
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(w, "Hint: %s\n", h.Hint())
	}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "neuroscale",
		Short:         "A working ML platform on your laptop or cluster in one command",
		Long:          "neuroscale installs cert-manager, Knative Serving with Kourier, KServe, ArgoCD, Kyverno and Backstage with the model-endpoint template, in dependency order, and waits until each is really ready.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.log = logging.New(g.streams.Err, g.verbose)
			logging.RouteLibraryLogs(g.log)
			switch g.output {
			case "text", "json":
			default:
				return fmt.Errorf("-o %q: use text or json", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "", "config file (default ./neuroscale.yaml; - reads standard input)")
	pf.String("profile", "", "profile: dev, prod or one defined in the config (env NEUROSCALE_PROFILE)")
	pf.String("kubeconfig", "", "kubeconfig of an existing cluster (env NEUROSCALE_CLUSTER_KUBECONFIG)")
	pf.String("context", "", "context in the kubeconfig (env NEUROSCALE_CLUSTER_CONTEXT)")
	pf.String("mirror", "", "file:// or http(s):// mirror of the upstream charts and manifests (env NEUROSCALE_SOURCES_MIRROR)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs, including Helm's and client-go's, on standard error")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	pf.DurationVar(&g.timeout, "timeout", 0, "overall time limit (0: derived from each workload's probes)")
	_ = g.viper.BindPFlag("profile", pf.Lookup("profile"))
	_ = g.viper.BindPFlag("cluster.kubeconfig", pf.Lookup("kubeconfig"))
	_ = g.viper.BindPFlag("cluster.context", pf.Lookup("context"))
	_ = g.viper.BindPFlag("sources.mirror", pf.Lookup("mirror"))

	root.AddCommand(
		newUpCmd(g),
		newDownCmd(g),
		newStatusCmd(g),
		newRenderCmd(g),
		newValidateCmd(g),
		newBundleCmd(g),
		newSecretCmd(g),
		newForwardCmd(g),
		newVerifyCmd(g),
		newDoctorCmd(g),
		newVersionCmd(g),
	)
	return root
}

// load reads and resolves the configuration with flag and environment
// overrides applied; it gives up when ctx ends.
func (g *globals) load(ctx context.Context) (*config.Resolved, error) {
	return config.LoadContext(ctx, config.LoadOptions{Path: g.configPath, Stdin: g.streams.In, Viper: g.viper})
}

// withTimeout applies --timeout to ctx when set.
func (g *globals) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.timeout > 0 {
		return context.WithTimeout(ctx, g.timeout)
	}
	return context.WithCancel(ctx)
}
