package k3d

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// Uses of a published host port.
const (
	UseHTTP  = "http"
	UseHTTPS = "https"
	UseAPI   = "api"
)

// PublishedPorts returns the host ports that the existing k3d cluster name
// publishes, each with its use (UseHTTP, UseHTTPS, UseAPI); empty when
// there is no such cluster. Preflight uses it so that re-running `up`
// does not report the cluster's own ports as taken. Call it only once
// Docker is known to be reachable (DockerEngine): k3d reports an
// unreachable engine as "no cluster".
func PublishedPorts(ctx context.Context, name string) (map[int]string, error) {
	cl, err := k3dclient.ClusterGet(ctx, runtimes.Docker, &k3dtypes.Cluster{Name: name})
	if errors.Is(err, k3dclient.ClusterGetNoNodesFoundError) {
		return map[int]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up k3d cluster %s: %w", name, err)
	}
	return publishedPorts(cl), nil
}

func publishedPorts(cl *k3dtypes.Cluster) map[int]string {
	out := map[int]string{}
	uses := map[string]string{"80": UseHTTP, "443": UseHTTPS, k3dtypes.DefaultAPIPort: UseAPI}
	for _, n := range cl.Nodes {
		if n.Role == k3dtypes.ServerRole {
			if p, err := strconv.Atoi(n.RuntimeLabels[k3dtypes.LabelServerAPIPort]); err == nil {
				out[p] = UseAPI
			}
		}
		if n.Role != k3dtypes.LoadBalancerRole {
			continue
		}
		for port, binds := range n.Ports {
			use, ok := uses[port.Port()]
			if !ok {
				continue
			}
			for _, b := range binds {
				if p, err := strconv.Atoi(b.HostPort); err == nil {
					out[p] = use
				}
			}
		}
	}
	return out
}
