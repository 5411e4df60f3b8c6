package k3d

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// cacheLabel marks the cache's volumes, so `docker volume ls --filter
// label=dev.neuroscale.cache` shows what --purge would remove.
const cacheLabel = "dev.neuroscale.cache"

// ensureCache starts the pull-through caches and their network, creating
// what is missing. The caches belong to no cluster (k3d labels them with an
// empty cluster name), so deleting a cluster never touches them, and their
// blobs live in named volumes, so `down` then `up` pulls nothing twice.
//
// An existing cache is checked against what this neuroscale would create
// (its image and upstream, cacheDrift): one that differs is recreated on
// its volume, so nothing cached is lost. One that lost its network (after
// `docker network rm`) is attached to the network as it is now before it
// starts.
func (p *Provider) ensureCache(ctx context.Context, dc dockerclient.APIClient) error {
	if _, _, err := p.rt.CreateNetworkIfNotPresent(ctx, &k3dtypes.ClusterNetwork{Name: CacheNetwork}); err != nil {
		return fmt.Errorf("network %s: %w", CacheNetwork, err)
	}
	for _, c := range Caches() {
		st, err := dc.ContainerInspect(ctx, c.Name)
		switch {
		case err == nil:
			if drift := cacheDrift(c, st); len(drift) > 0 {
				p.progressf("recreating image cache %s on its volume %s: %s", c.Name, c.Volume, strings.Join(drift, "; "))
				if err := dc.ContainerRemove(ctx, c.Name, container.RemoveOptions{Force: true}); err != nil {
					return fmt.Errorf("remove %s: %w", c.Name, err)
				}
				break // create it below
			}
			changed, err := reattach(ctx, dc, c.Name, CacheNetwork)
			if err != nil {
				return err
			}
			if changed {
				p.progressf("reconnected image cache %s to the network %s", c.Name, CacheNetwork)
			}
			if st.State == nil || !st.State.Running {
				p.log.Debug("starting image cache", "registry", c.Name)
				if err := dc.ContainerStart(ctx, c.Name, container.StartOptions{}); err != nil {
					return fmt.Errorf("start %s: %w", c.Name, err)
				}
			}
			continue
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("inspect %s: %w", c.Name, err)
		}
		p.log.Debug("creating image cache", "registry", c.Name, "upstream", c.RemoteURL)
		if err := p.rt.CreateVolume(ctx, c.Volume, map[string]string{cacheLabel: c.Upstream}); err != nil {
			return fmt.Errorf("volume %s: %w", c.Volume, err)
		}
		if _, err := k3dclient.RegistryRun(ctx, p.rt, c.registry()); err != nil {
			return fmt.Errorf("create %s: %w", c.Name, err)
		}
	}
	return nil
}

// registry is the k3d registry that serves c.
func (c Cache) registry() *k3dtypes.Registry {
	return &k3dtypes.Registry{
		Host:    c.Name,
		Image:   RegistryImage,
		Network: CacheNetwork,
		Volumes: []string{c.Volume + ":" + k3dtypes.DefaultRegistryMountPath},
		ExposureOpts: k3dtypes.ExposureOpts{
			Host: c.Name,
			// k3d publishes a registry's port; an empty host port lets
			// Docker pick a free one, so the cache never collides with
			// the ports preflight checks.
			PortMapping: nat.PortMapping{
				Port:    nat.Port(cachePort + "/tcp"),
				Binding: nat.PortBinding{HostIP: bindIP},
			},
		},
		Options: k3dtypes.RegistryOptions{Proxy: k3dtypes.RegistryProxy{RemoteURL: c.RemoteURL}},
	}
}

// remoteURLEnv is the distribution setting that makes a registry a
// pull-through cache of one upstream.
const remoteURLEnv = "REGISTRY_PROXY_REMOTEURL"

// cacheDrift lists, in words, how the existing cache container st differs
// from what c's registry() would create: its image and its upstream. The
// container's own configuration is the record of both (Docker keeps it
// with the container), so no extra label is needed to tell.
func cacheDrift(c Cache, st container.InspectResponse) []string {
	if st.Config == nil {
		return nil
	}
	var d []string
	if normImage(st.Config.Image) != normImage(RegistryImage) {
		d = append(d, fmt.Sprintf("image %s, wanted %s", st.Config.Image, RegistryImage))
	}
	remote := ""
	for _, e := range st.Config.Env {
		if v, ok := strings.CutPrefix(e, remoteURLEnv+"="); ok {
			remote = v
		}
	}
	if remote != c.RemoteURL {
		if remote == "" {
			remote = "none"
		}
		d = append(d, fmt.Sprintf("upstream %s, wanted %s", remote, c.RemoteURL))
	}
	return d
}

// purgeCache removes the caches, their volumes and their network. A
// network still used by another neuroscale cluster stays.
func (p *Provider) purgeCache(ctx context.Context, dc dockerclient.APIClient) error {
	var errs []error
	for _, c := range Caches() {
		if err := dc.ContainerRemove(ctx, c.Name, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.Name, err))
		}
		if err := dc.VolumeRemove(ctx, c.Volume, true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", c.Volume, err))
		}
	}
	if err := dc.NetworkRemove(ctx, CacheNetwork); err != nil && !cerrdefs.IsNotFound(err) {
		if cerrdefs.IsConflict(err) || cerrdefs.IsPermissionDenied(err) || cerrdefs.IsFailedPrecondition(err) {
			p.log.Warn("image cache network still in use by another cluster; left in place", "network", CacheNetwork)
		} else {
			errs = append(errs, fmt.Errorf("remove network %s: %w", CacheNetwork, err))
		}
	}
	return errors.Join(errs...)
}
