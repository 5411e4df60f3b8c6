package cli

import (
	"context"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/platform"
)

// reachPlatform loads the configuration and the access to its cluster,
// and checks that the cluster answers (cluster.Probe, a few seconds at
// most), for every command that works on the running platform: an
// unreachable cluster is then one short error with a hint, the same for
// all of them, instead of each command's own retries and timeouts.
func (g *globals) reachPlatform(ctx context.Context) (*config.Resolved, *cluster.Access, error) {
	r, err := g.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	acc, err := reach(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	return r, acc, nil
}

// reach is reachPlatform for a configuration already loaded.
func reach(ctx context.Context, r *config.Resolved) (*cluster.Access, error) {
	acc, err := platform.Access(r)
	if err != nil {
		return nil, err
	}
	if err := cluster.Probe(ctx, acc); err != nil {
		return nil, err
	}
	return acc, nil
}
