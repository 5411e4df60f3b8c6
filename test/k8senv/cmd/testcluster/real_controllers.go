package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// startRealControllers starts the harness of --real=controllers: it runs
// the container of every pod whose image is a program of realPrograms as a
// local process in the bench's pod network, for as long as the pod runs.
// The launcher has already prepared the control plane for it (see
// realControllerArgs, createRealStages and real_netns.go).
func startRealControllers(ctx context.Context, env realEnv) (func(), error) {
	if env.podNet == nil || env.podAPI == "" {
		return nil, errors.New("the launcher created no pod network")
	}
	bin := filepath.Join(env.bin, "real")
	for _, p := range realPrograms() {
		if p.standIn != "" {
			continue // the launcher itself
		}
		if _, err := os.Stat(filepath.Join(bin, p.binary)); err != nil {
			return nil, fmt.Errorf("%s is not built (%w): run scripts/testcluster build --real=controllers", p.binary, err)
		}
	}
	h := &harness{
		log: slog.New(slog.NewTextHandler(os.Stdout, nil)).With("real", "controllers"),
		cs:  env.cs, dyn: env.dyn,
		api: env.podAPI, caData: env.admin.CAData, caFile: env.admin.CAFile,
		net: env.podNet,
		dir: filepath.Join(env.dir, "real"), bin: bin,
		running: map[string]*container{},
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", h.dir, err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.run(hctx)
	}()
	go h.skipKnativeTagResolution(hctx)
	return func() {
		cancel()
		<-done
	}, nil
}

// realControllerArgs changes the API server for --real=controllers:
// webhooks and aggregated APIs are called at their endpoint addresses (the
// pod IPs in the bench's pod network) instead of Service IPs, which
// nothing routes here.
func realControllerArgs(apiArgs []string) []string {
	return append(apiArgs, "--enable-aggregator-routing=true")
}
