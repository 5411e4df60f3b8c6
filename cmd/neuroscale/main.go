// Command neuroscale turns a laptop with Docker, or an existing cluster,
// into a working ML platform: cert-manager, Knative Serving with Kourier,
// KServe, ArgoCD, Kyverno and Backstage with the model-endpoint template.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/neuroscale-dev/neuroscale/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the command winds down; a second one
		// gets the default behaviour and ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], os.Environ())
	stop()
	os.Exit(code)
}
