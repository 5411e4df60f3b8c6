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
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go cli.HandleInterrupts(sigs, cancel, os.Stderr, os.Exit)
	code := cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], os.Environ())
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
