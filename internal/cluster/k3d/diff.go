package k3d

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/go-connections/nat"

	k3dconf "github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// shape is the part of a cluster that a re-run must agree with: what
// cannot change without recreating it.
type shape struct {
	Image   string
	Servers int
	Agents  int
	// LB maps a load-balancer port ("80", "443") to its host port.
	LB map[string]string
	// API is the host port of the Kubernetes API; "" means any.
	API             string
	Network         string
	TraefikDisabled bool
}

// wantShape is the shape sc creates.
func wantShape(sc k3dconf.SimpleConfig) shape {
	s := shape{
		Image:           sc.Image,
		Servers:         sc.Servers,
		Agents:          sc.Agents,
		LB:              map[string]string{},
		API:             sc.ExposeAPI.HostPort,
		Network:         sc.Network,
		TraefikDisabled: true,
	}
	if s.Network == "" {
		s.Network = ContextName(sc.Name)
	}
	for _, p := range sc.Ports {
		maps, err := nat.ParsePortSpec(p.Port)
		if err != nil {
			continue // Build only writes valid specs
		}
		for _, m := range maps {
			s.LB[m.Port.Port()] = m.Binding.HostPort
		}
	}
	return s
}

// haveShape reads the shape of an existing cluster back from its nodes.
// serverImage is the image name the server container was created from
// (k3d's node carries only the image ID).
func haveShape(cl *k3dtypes.Cluster, serverImage string) shape {
	s := shape{Image: serverImage, LB: map[string]string{}, Network: cl.Network.Name}
	for _, n := range cl.Nodes {
		switch n.Role {
		case k3dtypes.ServerRole:
			s.Servers++
			if p := n.RuntimeLabels[k3dtypes.LabelServerAPIPort]; p != "" {
				s.API = p
			}
			if traefikDisabled(n.Cmd) || traefikDisabled(n.Args) {
				s.TraefikDisabled = true
			}
		case k3dtypes.AgentRole:
			s.Agents++
		case k3dtypes.LoadBalancerRole:
			for port, binds := range n.Ports {
				if port.Port() == k3dtypes.DefaultAPIPort || len(binds) == 0 {
					continue
				}
				s.LB[port.Port()] = binds[0].HostPort
			}
		}
	}
	return s
}

// traefikDisabled reports whether k3s args turn Traefik off, in any of
// the spellings k3s accepts.
func traefikDisabled(args []string) bool {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--disable=")
		if !ok && a == "--disable" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if !ok {
			continue
		}
		for _, item := range strings.Split(v, ",") {
			if strings.TrimSpace(item) == "traefik" {
				return true
			}
		}
	}
	return false
}

// lbNames says what each load-balancer port carries, for messages.
func lbName(port string) string {
	switch port {
	case "80":
		return "http"
	case "443":
		return "https"
	}
	return "port " + port
}

// diffShape lists, in words, every way have differs from want.
func diffShape(want, have shape) []string {
	var d []string
	if normImage(want.Image) != normImage(have.Image) {
		d = append(d, fmt.Sprintf("k3s image: the cluster runs %s, the config wants %s", have.Image, want.Image))
	}
	if want.Servers != have.Servers {
		d = append(d, fmt.Sprintf("servers: the cluster has %d, the config wants %d", have.Servers, want.Servers))
	}
	if want.Agents != have.Agents {
		d = append(d, fmt.Sprintf("agents: the cluster has %d, the config wants %d", have.Agents, want.Agents))
	}
	ports := make([]string, 0, len(want.LB))
	for p := range want.LB {
		ports = append(ports, p)
	}
	// Numeric order, so http (80) is reported before https (443).
	sort.Slice(ports, func(i, j int) bool {
		a, _ := strconv.Atoi(ports[i])
		b, _ := strconv.Atoi(ports[j])
		return a < b
	})
	for _, p := range ports {
		if have.LB[p] != want.LB[p] {
			h := have.LB[p]
			if h == "" {
				h = "none"
			}
			d = append(d, fmt.Sprintf("%s host port (load balancer :%s): the cluster publishes %s, the config wants %s", lbName(p), p, h, want.LB[p]))
		}
	}
	if want.API != "" && want.API != have.API {
		d = append(d, fmt.Sprintf("API port: the cluster publishes %s, the config wants %s", have.API, want.API))
	}
	if want.TraefikDisabled && !have.TraefikDisabled {
		d = append(d, "Traefik: the cluster was created without "+DisableTraefik+", so Traefik competes with Kourier for ports 80/443")
	}
	if want.Network != have.Network {
		what := "the image cache"
		if want.Network != CacheNetwork {
			what = "no image cache"
		}
		d = append(d, fmt.Sprintf("network: the cluster is on %s, the config (%s) wants %s", have.Network, what, want.Network))
	}
	return d
}

// normImage drops the defaults Docker fills into an image reference, so
// rancher/k3s:v1 and docker.io/rancher/k3s:v1 compare equal.
func normImage(s string) string {
	s = strings.TrimPrefix(s, "docker.io/")
	s = strings.TrimPrefix(s, "library/")
	return s
}

// ConflictError says an existing cluster was created differently from
// what the configuration now asks for.
type ConflictError struct {
	Cluster string
	Diffs   []string
}

// Error lists every difference, one per line.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("k3d cluster %q exists but differs from the config:\n  - %s", e.Cluster, strings.Join(e.Diffs, "\n  - "))
}

// Hint says how to resolve the conflict.
func (e *ConflictError) Hint() string {
	return "run `neuroscale up --recreate` to rebuild the cluster (its workloads are reinstalled; the image cache is kept), or change the config back"
}
