package k3d

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/config/types"
	k3dconf "github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Fixed parts of every neuroscale k3d cluster.
const (
	// DisableTraefik is the k3s server argument that keeps Traefik out:
	// k3s installs it by default, it claims ports 80/443 through servicelb
	// and answered the seed's predict calls with a 307 before Kourier saw
	// them.
	DisableTraefik = "--disable=traefik"
	// bindIP is where every host port is published. A dev platform signs
	// in as guest; it must not be reachable from the café's Wi-Fi.
	bindIP = "127.0.0.1"
	// DefaultTimeout bounds cluster creation and start (k3s server ready).
	DefaultTimeout = 5 * time.Minute
	// lbFilter targets k3d's load balancer: a host port there is proxied
	// to the same port on every node, where k3s's servicelb serves
	// Kourier's LoadBalancer Service.
	lbFilter = "loadbalancer"
)

// ContextName is the kubeconfig context k3d names after cluster name.
func ContextName(name string) string { return "k3d-" + name }

// Build returns the k3d SimpleConfig for r: the whole cluster as k3d sees
// it, built in code so that what neuroscale creates is reviewable (golden
// files) and never depends on a k3d config file on the user's disk.
// An API port of 0 stays empty here; Ensure picks a free one at creation,
// because a port chosen now could be taken by then.
func Build(r *config.Resolved) k3dconf.SimpleConfig {
	c := r.Cluster
	sc := k3dconf.SimpleConfig{
		TypeMeta:   k3dtypes.TypeMeta{Kind: "Simple", APIVersion: k3dconf.ApiVersion},
		ObjectMeta: k3dtypes.ObjectMeta{Name: c.Name},
		Servers:    1,
		Agents:     c.Agents,
		Image:      c.K3sImage,
		ExposeAPI: k3dconf.SimpleExposureOpts{
			Host:   bindIP,
			HostIP: bindIP,
		},
		Ports: []k3dconf.PortWithNodeFilters{
			{Port: fmt.Sprintf("%s:%d:80", bindIP, c.Ports.HTTP), NodeFilters: []string{lbFilter}},
			{Port: fmt.Sprintf("%s:%d:443", bindIP, c.Ports.HTTPS), NodeFilters: []string{lbFilter}},
		},
		Options: k3dconf.SimpleConfigOptions{
			K3dOptions: k3dconf.SimpleConfigOptionsK3d{
				Wait:    true,
				Timeout: DefaultTimeout,
			},
			K3sOptions: k3dconf.SimpleConfigOptionsK3s{
				ExtraArgs: []k3dconf.K3sArgWithNodeFilters{
					{Arg: DisableTraefik, NodeFilters: []string{"server:*"}},
				},
			},
			// With a kubeconfig file of its own the cluster stays out of
			// the user's default kubeconfig and current context.
			KubeconfigOptions: k3dconf.SimpleConfigOptionsKubeconfig{
				UpdateDefaultKubeconfig: c.Kubeconfig == "",
				SwitchCurrentContext:    c.Kubeconfig == "",
			},
		},
	}
	if c.Ports.API != 0 {
		sc.ExposeAPI.HostPort = strconv.Itoa(c.Ports.API)
	}
	if cacheEnabled(r) {
		// The caches live on a network of their own that every neuroscale
		// cluster joins, instead of k3d's per-cluster network: k3d deletes
		// a cluster's network with it, while the caches must outlive it.
		sc.Network = CacheNetwork
		sc.Registries.Config = RegistriesYAML(Caches())
		// What the nodes were configured with, for the next up to compare
		// (repairRegistries).
		sc.Options.Runtime.Labels = append(sc.Options.Runtime.Labels, k3dconf.LabelWithNodeFilters{
			Label:       registriesLabel + "=" + configHash(sc.Registries.Config),
			NodeFilters: []string{"server:*", "agent:*"},
		})
	}
	return sc
}

func cacheEnabled(r *config.Resolved) bool {
	return r.Cluster.ImageCache == nil || *r.Cluster.ImageCache
}

// The image cache.
const (
	// CacheNetwork is the Docker network the caches and clusters share.
	CacheNetwork = "neuroscale-cache"
	// RegistryImage is the pull-through cache's image (CNCF distribution),
	// pinned so a cache never changes under a user's feet.
	RegistryImage = "docker.io/library/registry:2.8.3"
	// cachePort is where distribution listens inside its container.
	cachePort = "5000"
)

// Cache is one pull-through registry of the image cache.
type Cache struct {
	// Upstream is the registry host images are named by, e.g. ghcr.io.
	Upstream string `json:"upstream"`
	// RemoteURL is what the cache fetches from and stores.
	RemoteURL string `json:"remoteURL"`
	// Name is the container name, which nodes resolve on CacheNetwork.
	Name string `json:"name"`
	// Volume holds the cached blobs; it survives `down`.
	Volume string `json:"volume"`
}

// Endpoint is the URL nodes pull through.
func (c Cache) Endpoint() string { return "http://" + c.Name + ":" + cachePort }

// Caches lists the pull-through caches: one per upstream, because a
// distribution registry in proxy mode mirrors exactly one remote. These are
// the registries the platform's images come from.
func Caches() []Cache {
	ups := []struct{ host, remote string }{
		{"docker.io", "https://registry-1.docker.io"},
		{"ghcr.io", "https://ghcr.io"},
		{"quay.io", "https://quay.io"},
		{"gcr.io", "https://gcr.io"},
		{"registry.k8s.io", "https://registry.k8s.io"},
	}
	out := make([]Cache, 0, len(ups))
	for _, u := range ups {
		n := "neuroscale-cache-" + strings.ReplaceAll(u.host, ".", "-")
		out = append(out, Cache{Upstream: u.host, RemoteURL: u.remote, Name: n, Volume: n})
	}
	return out
}

// RegistriesYAML is the k3s registries.yaml that sends each upstream's
// pulls through its cache. k3s lets any registry host have mirrors (not
// only docker.io), and containerd falls back to the upstream itself when
// every mirror fails, so a stopped cache slows pulls down but never breaks
// them.
func RegistriesYAML(caches []Cache) string {
	var b strings.Builder
	b.WriteString("mirrors:\n")
	for _, c := range caches {
		fmt.Fprintf(&b, "  %s:\n    endpoint:\n      - %s\n", c.Upstream, c.Endpoint())
	}
	return b.String()
}
