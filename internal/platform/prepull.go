package platform

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/prepull"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/state"
)

// prePullEnabled says whether up pulls the images ahead: on for a k3d
// cluster, which neuroscale owns and whose nodes it can reach through
// Docker; on an existing cluster only when asked, since it creates pods
// there and fills its nodes' disks.
func (u *run) prePullEnabled(r *config.Resolved) bool {
	if u.o.PrePull != nil {
		return *u.o.PrePull
	}
	return r.Cluster.Provider == config.ProviderK3d
}

// prePull starts pulling p's images in the background (phase pre-pull,
// beside converge) and returns what stops it: once converge has ended,
// every image it needed is on the nodes, so what is still pulling is
// cancelled. A puller that cannot start and an image that cannot be
// pulled are warnings: the stages pull what they need themselves.
func (u *run) prePull(ctx context.Context, r *config.Resolved, p *render.Platform, cfg *rest.Config) (stop func()) {
	if !u.prePullEnabled(r) {
		return func() {}
	}
	refs := prepull.Refs(prepull.Images(p))
	if len(refs) == 0 {
		return func() {}
	}
	u.log.Debug("pre-pull order", "images", refs)
	end := u.begin(progress.PhasePrePull)
	newPuller := u.newPuller
	if newPuller == nil {
		newPuller = u.puller
	}
	pl, closePuller, err := newPuller(ctx, r, cfg)
	if err != nil {
		u.print.Warning(fmt.Sprintf("not pulling the images ahead: %v; each component pulls its own images as it starts, only later", err))
		end(ctx, nil)
		return func() {}
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer closePuller()
		res := prepull.Run(pctx, pl, refs, prepull.Options{Report: func(s prepull.Status) {
			if s.Err != nil && pctx.Err() == nil {
				u.print.Warning(s.Err.Error() + "; the component that runs it pulls it again as it starts")
			}
			u.sink.Report(progress.Event{Time: time.Now(), Phase: progress.PhasePrePull, State: progress.StateRunning,
				Message: fmt.Sprintf("%d/%d images", s.Done, s.Total), Bytes: s.Bytes})
		}})
		u.log.Debug("pre-pull finished", "images", len(refs), "pulled", res.Pulled, "failed", len(res.Failed), "bytes", res.Bytes)
		// Stopped because converge finished is no failure of this phase.
		end(context.Background(), nil)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// puller is the k3d nodes' crictl for a k3d cluster, a pod per node
// otherwise.
func (u *run) puller(ctx context.Context, r *config.Resolved, cfg *rest.Config) (prepull.Puller, func(), error) {
	if r.Cluster.Provider == config.ProviderK3d {
		np, err := k3d.NewNodePuller(ctx, r.Cluster.Name)
		if err != nil {
			return nil, nil, err
		}
		return np, func() { _ = np.Close() }, nil
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	pp, err := prepull.NewPodPuller(ctx, kube, state.Namespace)
	if err != nil {
		return nil, nil, err
	}
	return pp, func() {}, nil
}
