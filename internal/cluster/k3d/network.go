package k3d

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// reattach makes sure the stopped or network-less container is attached to
// the network named net as it exists now. Docker records a container's
// networks by ID: after `docker network rm neuroscale-cache` (allowed
// while the caches and a cluster are stopped) and the network's
// re-creation, their IDs point at nothing and `docker start` fails with
// "network … not found". Detaching by name, which Docker allows for a
// stopped container, and attaching again repairs that. It reports whether
// anything changed.
func reattach(ctx context.Context, dc dockerclient.APIClient, container, net string) (bool, error) {
	nw, err := dc.NetworkInspect(ctx, net, network.InspectOptions{})
	if err != nil {
		return false, fmt.Errorf("inspect network %s: %w", net, err)
	}
	st, err := dc.ContainerInspect(ctx, container)
	if err != nil {
		return false, fmt.Errorf("inspect %s: %w", container, err)
	}
	var ep *network.EndpointSettings
	if st.NetworkSettings != nil {
		ep = st.NetworkSettings.Networks[net]
	}
	if ep != nil && ep.NetworkID == nw.ID {
		return false, nil
	}
	if ep != nil {
		if st.State != nil && st.State.Running {
			// A running container keeps its endpoint; Docker refuses to
			// remove a network in use, so this is someone else's doing.
			return false, fmt.Errorf("%s runs attached to a network %s that is not the current one; stop it and run up again", container, net)
		}
		if err := dc.NetworkDisconnect(ctx, net, container, true); err != nil {
			return false, fmt.Errorf("detach %s from the removed network %s: %w", container, net, err)
		}
	}
	if err := dc.NetworkConnect(ctx, net, container, &network.EndpointSettings{}); err != nil {
		return false, fmt.Errorf("connect %s to %s: %w", container, net, err)
	}
	return true, nil
}

// reattachNodes attaches the stopped cluster's nodes to its network as it
// exists now, re-creating the network when it is gone, so the cluster can
// start after `docker network rm`.
func (p *Provider) reattachNodes(ctx context.Context, dc dockerclient.APIClient, cl *k3dtypes.Cluster) error {
	net := cl.Network.Name
	if net == "" {
		return nil
	}
	if _, _, err := p.rt.CreateNetworkIfNotPresent(ctx, &k3dtypes.ClusterNetwork{Name: net}); err != nil {
		return fmt.Errorf("network %s: %w", net, err)
	}
	for _, n := range cl.Nodes {
		switch n.Role {
		case k3dtypes.ServerRole, k3dtypes.AgentRole, k3dtypes.LoadBalancerRole:
		default:
			continue // k3d's tools node: it makes a new one when it needs it
		}
		changed, err := reattach(ctx, dc, n.Name, net)
		if err != nil {
			return err
		}
		if changed {
			p.progressf("reconnected %s to the network %s", n.Name, net)
		}
	}
	return nil
}
