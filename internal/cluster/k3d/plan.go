package k3d

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/go-connections/nat"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// ClusterPlan is what `up` would make in Docker for a k3d cluster, worked
// out from the configuration alone (no Docker, no cluster): `up --dry-run`
// prints it.
type ClusterPlan struct {
	Provider string `json:"provider"`
	Name     string `json:"name"`
	// Action says what up does with it: a cluster of this name that
	// matches is reused (started if stopped), one that differs is
	// reported, none is created.
	Action string `json:"action"`
	// Context is the kubeconfig context, written to Kubeconfig.
	Context    string `json:"context"`
	Kubeconfig string `json:"kubeconfig"`
	Servers    int    `json:"servers"`
	Agents     int    `json:"agents"`
	// K3sArgs are the extra k3s server arguments.
	K3sArgs  []string      `json:"k3sArgs"`
	Images   []Image       `json:"images"`
	Ports    []PlannedPort `json:"ports"`
	Networks []PlannedItem `json:"networks"`
	Volumes  []PlannedItem `json:"volumes"`
	Caches   []Cache       `json:"caches"`
}

// PlannedPort is a host port the cluster or a cache publishes.
type PlannedPort struct {
	// Use is UseHTTP, UseHTTPS, UseAPI or "cache " and the upstream.
	Use    string `json:"use"`
	HostIP string `json:"hostIP"`
	// HostPort is 0 when a free port is picked at creation.
	HostPort int `json:"hostPort"`
	// ContainerPort is where it lands on Node.
	ContainerPort int    `json:"containerPort"`
	Node          string `json:"node"`
}

// PlannedItem is a Docker network or volume and why it exists.
type PlannedItem struct {
	Name string `json:"name"`
	// Purpose says what it is for.
	Purpose string `json:"purpose"`
	// KeptOnDown is true for what `down` leaves (only `down --purge`
	// removes it).
	KeptOnDown bool `json:"keptOnDown"`
}

// Action values of ClusterPlan.
const ActionCreateOrReuse = "create, or reuse if it exists and matches"

// Plan works out the cluster `up` would create or reuse for r, from the
// same SimpleConfig Build gives Ensure, so the plan cannot drift from
// what is made. It touches neither Docker nor a cluster.
func Plan(r *config.Resolved) ClusterPlan {
	sc := Build(r)
	cache := cacheEnabled(r)
	p := ClusterPlan{
		Provider:   config.ProviderK3d,
		Name:       sc.Name,
		Action:     ActionCreateOrReuse,
		Context:    ContextName(sc.Name),
		Kubeconfig: kubeconfigPath(r.Cluster.Kubeconfig),
		Servers:    sc.Servers,
		Agents:     sc.Agents,
		Images:     Images(sc.Image, cache),
		Caches:     []Cache{},
	}
	for _, a := range sc.Options.K3sOptions.ExtraArgs {
		p.K3sArgs = append(p.K3sArgs, a.Arg)
	}
	uses := map[string]string{"80": UseHTTP, "443": UseHTTPS}
	for _, spec := range sc.Ports {
		maps, err := nat.ParsePortSpec(spec.Port)
		if err != nil {
			continue // Build only writes valid specs
		}
		for _, m := range maps {
			hp, _ := strconv.Atoi(m.Binding.HostPort)
			cp := m.Port.Int()
			use := uses[m.Port.Port()]
			if use == "" {
				use = "port " + m.Port.Port()
			}
			p.Ports = append(p.Ports, PlannedPort{Use: use, HostIP: m.Binding.HostIP, HostPort: hp, ContainerPort: cp, Node: strings.Join(spec.NodeFilters, ",")})
		}
	}
	api, _ := strconv.Atoi(sc.ExposeAPI.HostPort)
	apiPort, _ := strconv.Atoi(k3dtypes.DefaultAPIPort)
	p.Ports = append(p.Ports, PlannedPort{Use: UseAPI, HostIP: sc.ExposeAPI.HostIP, HostPort: api, ContainerPort: apiPort, Node: lbFilter})
	sort.SliceStable(p.Ports, func(i, j int) bool { return p.Ports[i].ContainerPort < p.Ports[j].ContainerPort })

	if cache {
		p.Networks = append(p.Networks, PlannedItem{Name: CacheNetwork, Purpose: "shared by the image caches and every neuroscale cluster", KeptOnDown: true})
		p.Caches = Caches()
		cp, _ := strconv.Atoi(cachePort)
		for _, c := range p.Caches {
			p.Volumes = append(p.Volumes, PlannedItem{Name: c.Volume, Purpose: "blobs cached from " + c.Upstream, KeptOnDown: true})
			// k3d publishes a registry's port; Docker picks the host port.
			p.Ports = append(p.Ports, PlannedPort{Use: "cache " + c.Upstream, HostIP: bindIP, ContainerPort: cp, Node: c.Name})
		}
	} else {
		p.Networks = append(p.Networks, PlannedItem{Name: ContextName(sc.Name), Purpose: "the cluster's own network"})
	}
	p.Volumes = append(p.Volumes, PlannedItem{Name: ContextName(sc.Name) + "-images", Purpose: "k3d's image volume of the cluster (image imports)"})
	return p
}

// WriteText prints the plan for a person.
func (p ClusterPlan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "k3d cluster %s (%s): %d server(s), %d agent(s); kubeconfig context %s in %s\n", p.Name, p.Action, p.Servers, p.Agents, p.Context, p.Kubeconfig)
	if len(p.K3sArgs) > 0 {
		fmt.Fprintf(&b, "  k3s server args: %s\n", strings.Join(p.K3sArgs, " "))
	}
	b.WriteString("  images (pulled before creating, when missing):\n")
	for _, img := range p.Images {
		fmt.Fprintf(&b, "    %-9s %s\n", img.Role, img.Ref)
	}
	b.WriteString("  host ports:\n")
	for _, pt := range p.Ports {
		host := strconv.Itoa(pt.HostPort)
		if pt.HostPort == 0 {
			host = "(a free port, picked at creation)"
		}
		fmt.Fprintf(&b, "    %-22s %s:%s -> %s:%d\n", pt.Use, pt.HostIP, host, pt.Node, pt.ContainerPort)
	}
	b.WriteString("  networks:\n")
	writeItems(&b, p.Networks)
	b.WriteString("  volumes:\n")
	writeItems(&b, p.Volumes)
	if len(p.Caches) > 0 {
		b.WriteString("  image caches (pull-through registries, " + RegistryImage + "):\n")
		for _, c := range p.Caches {
			fmt.Fprintf(&b, "    %-16s -> %s (container %s)\n", c.Upstream, c.RemoteURL, c.Name)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeItems(b *strings.Builder, items []PlannedItem) {
	for _, it := range items {
		kept := ""
		if it.KeptOnDown {
			kept = "; kept by down, removed by down --purge"
		}
		fmt.Fprintf(b, "    %s: %s%s\n", it.Name, it.Purpose, kept)
	}
}
