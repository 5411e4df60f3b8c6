// Package k3d creates, reuses and deletes the local k3d cluster neuroscale
// installs into, with the k3d Go library (no k3d binary), plus the
// pull-through image cache that outlives it.
//
// The cluster is described in code as a k3d v1alpha5 SimpleConfig (Build):
// one server, the configured agents, a pinned k3s image, Traefik disabled,
// the load balancer's host ports for Kourier, and registries.yaml mirrors
// pointing at the cache. Ensure pulls every image first (outside k3d's
// creation timeout), reuses a cluster that matches, starts one that is
// stopped, repairs what it can (cache containers, mirrors, networks
// removed by hand), reports one that differs otherwise (ConflictError),
// and rolls a failed creation back unless told to retain it. Delete is
// idempotent. Plan says all of that without touching Docker.
package k3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	dockerclient "github.com/docker/docker/client"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3dcfg "github.com/k3d-io/k3d/v5/pkg/config"
	k3dconf "github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	"github.com/k3d-io/k3d/v5/pkg/runtimes/docker"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/cluster"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Options are the choices `up` and `down` take as flags.
type Options struct {
	// Recreate deletes an existing cluster and creates it anew (--recreate).
	Recreate bool
	// Retain keeps a cluster whose creation failed, to look at (--retain).
	Retain bool
	// Purge makes Delete also remove the image cache (--purge), as if it
	// were called with purge set.
	Purge bool
	// Timeout bounds creating or starting the cluster until its server is
	// ready; 0 means DefaultTimeout.
	Timeout time.Duration
	// Images are image archives (`docker save` tarballs, e.g. what
	// `neuroscale bundle` saved) imported into a newly created cluster, so
	// a workshop without internet needs no registry.
	Images []string
	// Progress receives image pull progress, one line per step (standard
	// error in the CLI); nil logs it at info level instead.
	Progress io.Writer
	// Step, when set, is told when each slow step of Ensure starts
	// (StepPull, StepCache, StepCreate, StepStart) and returns what is told when it
	// ends, so up can show them as they happen instead of one long wait.
	Step func(name string) (end func(error))
}

// Steps of Ensure, as told to Options.Step.
const (
	// StepPull pulls the images a creation needs, before its timeout.
	StepPull = "pull-images"
	// StepCache starts (or creates) the pull-through image caches.
	StepCache = "image-cache"
	// StepCreate creates the cluster and waits for its server.
	StepCreate = "create-cluster"
	// StepStart starts an existing cluster's stopped nodes.
	StepStart = "start-cluster"
)

// step runs fn as the named step of Options.Step.
func (p *Provider) step(name string, fn func() error) error {
	if p.opts.Step == nil {
		return fn()
	}
	end := p.opts.Step(name)
	err := fn()
	end(err)
	return err
}

// Provider is the k3d implementation of cluster.Provider.
type Provider struct {
	r    *config.Resolved
	log  *slog.Logger
	opts Options
	rt   runtimes.Runtime
}

var _ cluster.Provider = (*Provider)(nil)

// New returns the k3d provider for r. It routes k3d's global logger into
// log (see routeK3dLog); it does not contact Docker.
func New(r *config.Resolved, log *slog.Logger, opts Options) *Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	routeK3dLog(log)
	return &Provider{r: r, log: log, opts: opts, rt: runtimes.Docker}
}

// Name implements cluster.Provider.
func (p *Provider) Name() string { return config.ProviderK3d }

// Kubeconfig is the file the cluster's context is written to.
func (p *Provider) Kubeconfig() string { return kubeconfigPath(p.r.Cluster.Kubeconfig) }

// Ensure returns access to a running cluster shaped as configured: it
// starts the image cache, then reuses, starts, recreates or creates the
// cluster, and writes its kubeconfig context.
func (p *Provider) Ensure(ctx context.Context) (*cluster.Access, error) {
	name := p.r.Cluster.Name
	if _, err := DockerEngine(ctx); err != nil {
		return nil, err
	}
	dc, err := docker.GetDockerClient()
	if err != nil {
		return nil, &DockerUnavailableError{Err: err}
	}
	defer dc.Close()
	unlock, err := p.lockCluster(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	sc := Build(p.r)
	sc.Options.K3dOptions.Timeout = p.opts.Timeout

	existing, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	if existing != nil && p.opts.Recreate {
		p.log.Info("deleting the cluster to recreate it", "cluster", name)
		if _, err := p.deleteCluster(ctx); err != nil {
			return nil, fmt.Errorf("recreate k3d cluster %s: %w", name, err)
		}
		existing = nil
	}
	created := existing == nil
	// Everything a creation needs is pulled first, outside the creation
	// timeout; an existing cluster already has its node images.
	var pulls []Image
	for _, img := range Images(sc.Image, cacheEnabled(p.r)) {
		if created || img.Role == ImageRegistry {
			pulls = append(pulls, img)
		}
	}
	if len(pulls) > 0 {
		if err := p.step(StepPull, func() error { return p.pullImages(ctx, dc, pulls) }); err != nil {
			return nil, err
		}
	}
	if cacheEnabled(p.r) {
		if err := p.step(StepCache, func() error { return p.ensureCache(ctx, dc) }); err != nil {
			return nil, fmt.Errorf("image cache: %w", err)
		}
	}
	if created {
		err = p.step(StepCreate, func() (err error) {
			existing, err = p.create(ctx, sc)
			return err
		})
	} else {
		err = p.step(StepStart, func() error { return p.reuse(ctx, dc, sc, existing) })
	}
	if err != nil {
		return nil, err
	}

	kc, err := k3dclient.KubeconfigGet(ctx, p.rt, existing)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of k3d cluster %s: %w", name, err)
	}
	cur, err := currentContext(p.Kubeconfig())
	if err != nil {
		return nil, err
	}
	if err := MergeKubeconfig(ctx, p.Kubeconfig(), kc, switchContext(created, cur)); err != nil {
		return nil, err
	}
	if created && len(p.opts.Images) > 0 {
		if err := p.importImages(ctx, existing); err != nil {
			return nil, err
		}
	}
	acc, err := cluster.LoadAccess(p.r.Cluster.Kubeconfig, ContextName(name))
	if err != nil {
		return nil, fmt.Errorf("k3d cluster %s: %w", name, err)
	}
	return acc, nil
}

// switchContext says whether up makes the cluster's context current. Like
// k3d's CLI, when it created the cluster; otherwise only when the file
// has no current context at all: a user who has switched away with
// `kubectl config use-context` must not be switched back by every up.
func switchContext(created bool, current string) bool {
	return created || current == ""
}

// get returns the named cluster, or nil when no container of it exists.
// Docker must be known to be reachable: k3d's ClusterGet reports "no
// nodes" when it cannot list containers at all.
func (p *Provider) get(ctx context.Context) (*k3dtypes.Cluster, error) {
	cl, err := k3dclient.ClusterGet(ctx, p.rt, &k3dtypes.Cluster{Name: p.r.Cluster.Name})
	if errors.Is(err, k3dclient.ClusterGetNoNodesFoundError) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up k3d cluster %s: %w", p.r.Cluster.Name, err)
	}
	return cl, nil
}

// create builds the cluster from sc. A failure deletes whatever was made,
// unless Retain asks to keep it for inspection.
func (p *Provider) create(ctx context.Context, sc k3dconf.SimpleConfig) (*k3dtypes.Cluster, error) {
	name := sc.Name
	if sc.ExposeAPI.HostPort == "" {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("pick a port for the Kubernetes API: %w", err)
		}
		sc.ExposeAPI.HostPort = strconv.Itoa(port)
	}
	cc, err := k3dcfg.TransformSimpleToClusterConfig(ctx, p.rt, sc, "")
	if err != nil {
		return nil, fmt.Errorf("k3d config for cluster %s: %w", name, err)
	}
	if cc, err = k3dcfg.ProcessClusterConfig(*cc); err != nil {
		return nil, fmt.Errorf("k3d config for cluster %s: %w", name, err)
	}
	if err := k3dcfg.ValidateClusterConfig(ctx, p.rt, *cc); err != nil {
		return nil, fmt.Errorf("k3d config for cluster %s: %w", name, err)
	}
	p.log.Info("creating k3d cluster", "cluster", name, "image", sc.Image, "agents", sc.Agents)
	if err := k3dclient.ClusterRun(ctx, p.rt, cc); err != nil {
		cerr := &CreateError{Cluster: name, Err: err, Retained: p.opts.Retain}
		if !p.opts.Retain {
			// The caller's context may be what failed; rolling back must
			// still run.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if _, rerr := p.deleteCluster(rctx); rerr != nil {
				cerr.RollbackErr = rerr
			}
		}
		return nil, cerr
	}
	cl, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return nil, fmt.Errorf("k3d cluster %s vanished right after creation", name)
	}
	return cl, nil
}

// reuse checks an existing cluster against sc and starts it if stopped.
func (p *Provider) reuse(ctx context.Context, dc dockerclient.APIClient, sc k3dconf.SimpleConfig, cl *k3dtypes.Cluster) error {
	image := ""
	for _, n := range cl.Nodes {
		if n.Role == k3dtypes.ServerRole {
			st, err := dc.ContainerInspect(ctx, n.Name)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", n.Name, err)
			}
			if st.Config != nil {
				image = st.Config.Image
			}
			break
		}
	}
	if diffs := diffShape(wantShape(sc), haveShape(cl, image)); len(diffs) > 0 {
		return &ConflictError{Cluster: sc.Name, Diffs: diffs}
	}
	// Only the nodes that serve the cluster count: k3d's tools container
	// exits when idle and needs no start.
	running := true
	for _, n := range cl.Nodes {
		switch n.Role {
		case k3dtypes.ServerRole, k3dtypes.AgentRole, k3dtypes.LoadBalancerRole:
			running = running && n.State.Running
		}
	}
	if sc.Registries.Config != "" {
		diffs, err := repairRegistries(ctx, p.rt, dc, cl, sc.Registries.Config)
		if err != nil {
			return fmt.Errorf("registries.yaml of k3d cluster %s: %w", sc.Name, err)
		}
		if len(diffs) > 0 {
			p.progressf("updated the image cache mirrors (registries.yaml) of k3d cluster %s: %s", sc.Name, strings.Join(diffs, "; "))
			if running {
				// k3s reads registries.yaml only when it starts.
				p.progressf("restarting k3d cluster %s so k3s reads them", sc.Name)
				if err := k3dclient.ClusterStop(ctx, p.rt, cl); err != nil {
					return fmt.Errorf("restart k3d cluster %s: %w", sc.Name, err)
				}
				running = false
			}
		}
	}
	if running {
		p.log.Info("reusing running k3d cluster", "cluster", sc.Name)
		return nil
	}
	if err := p.reattachNodes(ctx, dc, cl); err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", sc.Name, err)
	}
	p.log.Info("starting stopped k3d cluster", "cluster", sc.Name)
	opts, err := k3dclient.GetClusterStartOptsFromLabels(cl)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", sc.Name, err)
	}
	env, err := k3dclient.GatherEnvironmentInfo(ctx, p.rt, cl)
	if err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", sc.Name, err)
	}
	opts.WaitForServer, opts.Timeout, opts.EnvironmentInfo = true, p.opts.Timeout, env
	if err := k3dclient.ClusterStart(ctx, p.rt, cl, opts); err != nil {
		return fmt.Errorf("start k3d cluster %s: %w", sc.Name, err)
	}
	return nil
}

// Delete removes the cluster and its kubeconfig context; purge (or
// Options.Purge) also removes the image cache. Nothing there is no error,
// and a half-created cluster's leftovers are removed too. Docker being
// unreachable is an error: then nobody can tell whether the cluster exists,
// and its kubeconfig context is left alone.
func (p *Provider) Delete(ctx context.Context, purge bool) error {
	name := p.r.Cluster.Name
	if _, err := DockerEngine(ctx); err != nil {
		return fmt.Errorf("cannot tell whether k3d cluster %s exists: %w", name, err)
	}
	existed, err := p.deleteCluster(ctx)
	if err != nil {
		return fmt.Errorf("delete k3d cluster %s: %w", name, err)
	}
	if !existed {
		p.log.Info("no k3d cluster to delete", "cluster", name)
	}
	if err := RemoveKubeconfigContext(p.Kubeconfig(), name); err != nil {
		return err
	}
	if purge || p.opts.Purge {
		dc, err := docker.GetDockerClient()
		if err != nil {
			return &DockerUnavailableError{Err: err}
		}
		defer dc.Close()
		if err := p.purgeCache(ctx, dc); err != nil {
			return fmt.Errorf("purge image cache: %w", err)
		}
	}
	return nil
}

// deleteCluster removes the cluster's containers, its own network and its
// volumes. When no container is left (a creation that died after making
// the network or image volume) it removes those leftovers directly.
func (p *Provider) deleteCluster(ctx context.Context) (existed bool, err error) {
	name := p.r.Cluster.Name
	cl, err := p.get(ctx)
	if err != nil {
		return false, err
	}
	if cl != nil {
		if err := k3dclient.ClusterDelete(ctx, p.rt, cl, k3dtypes.ClusterDeleteOpts{SkipRegistryCheck: true}); err != nil {
			return true, err
		}
	}
	vols, err := p.rt.GetVolumesByLabel(ctx, map[string]string{k3dtypes.LabelClusterName: name})
	if err != nil {
		return cl != nil, fmt.Errorf("list volumes: %w", err)
	}
	var errs []error
	for _, v := range vols {
		if err := p.rt.DeleteVolume(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	// k3d's own network for the cluster (only used without the cache).
	own := ContextName(name)
	if _, err := p.rt.GetNetwork(ctx, &k3dtypes.ClusterNetwork{Name: own}); err == nil {
		if err := p.rt.DeleteNetwork(ctx, own); err != nil {
			errs = append(errs, err)
		}
	}
	return cl != nil || len(vols) > 0, errors.Join(errs...)
}

// CreateError is a failed cluster creation, with what happened to the
// pieces that were made.
type CreateError struct {
	Cluster string
	Err     error
	// Retained is true when the pieces were kept (--retain).
	Retained bool
	// RollbackErr is why deleting the pieces failed, if it did.
	RollbackErr error
}

// Error says what failed and what became of the pieces.
func (e *CreateError) Error() string {
	s := fmt.Sprintf("create k3d cluster %s: %v", e.Cluster, e.Err)
	switch {
	case e.Retained:
		s += " (kept for inspection: --retain)"
	case e.RollbackErr != nil:
		s += fmt.Sprintf("; rolling back also failed: %v", e.RollbackErr)
	default:
		s += " (rolled back)"
	}
	return s
}

// Unwrap returns k3d's error.
func (e *CreateError) Unwrap() error { return e.Err }

// Hint says what to do after a failed creation.
func (e *CreateError) Hint() string {
	if e.Retained {
		return "inspect it with `docker ps -a --filter label=k3d.cluster=" + e.Cluster + "` and `docker logs k3d-" + e.Cluster + "-server-0`; `neuroscale down` removes it"
	}
	if e.RollbackErr != nil {
		return "`neuroscale down` removes what is left; run with --retain to keep a failed cluster for inspection"
	}
	return "run again with -v to see k3d's steps, or with --retain to keep the failed cluster for inspection"
}

// freePort asks the kernel for a free port on the loopback address.
func freePort() (int, error) {
	l, err := net.Listen("tcp", bindIP+":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
