// Command neuroscale turns a laptop with Docker, or an existing cluster,
// into a working ML platform: cert-manager, Knative Serving with Kourier,
// KServe, ArgoCD, Kyverno and Backstage with the model-endpoint template.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/neuroscale-dev/neuroscale/internal/cli"
)

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets one. An install's live heap is about 100 MiB, but it allocates
// gigabytes on the way (Helm encodes and re-encodes every release, CRDs
// are read and decoded while waiting), and with the default GC pacing
// alone the heap grows to twice the live set between collections: up's
// RSS reached 350-420 MiB. The limit makes the collector run earlier as
// the heap nears it, at a few percent more CPU; it is soft, so a larger
// platform is slowed by more GC, never killed.
const memoryLimit = 160 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go cli.HandleInterrupts(sigs, cancel, os.Stderr, os.Exit)
	code := cli.Execute(ctx, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:], os.Environ())
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}
