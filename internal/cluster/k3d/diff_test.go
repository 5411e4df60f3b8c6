package k3d

import (
	"strings"
	"testing"

	"github.com/docker/go-connections/nat"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// node builds a k3d node as ClusterGet returns it.
func node(role k3dtypes.Role, cmd []string, labels map[string]string, ports nat.PortMap) *k3dtypes.Node {
	return &k3dtypes.Node{Role: role, Cmd: cmd, RuntimeLabels: labels, Ports: ports}
}

func lbPorts(http, https, api string) nat.PortMap {
	return nat.PortMap{
		"80/tcp":   {{HostIP: bindIP, HostPort: http}},
		"443/tcp":  {{HostIP: bindIP, HostPort: https}},
		"6443/tcp": {{HostIP: bindIP, HostPort: api}},
	}
}

func TestDiffShape(t *testing.T) {
	want := wantShape(Build(resolved(t, "dev")))
	good := func() *k3dtypes.Cluster {
		return &k3dtypes.Cluster{
			Name:    "neuroscale",
			Network: k3dtypes.ClusterNetwork{Name: CacheNetwork},
			Nodes: []*k3dtypes.Node{
				node(k3dtypes.ServerRole, []string{"server", "--disable=traefik", "--tls-san", "0.0.0.0"}, map[string]string{k3dtypes.LabelServerAPIPort: "41234"}, nil),
				node(k3dtypes.LoadBalancerRole, nil, nil, lbPorts("8081", "8444", "41234")),
			},
		}
	}
	tests := []struct {
		name   string
		change func(*k3dtypes.Cluster)
		image  string
		want   []string // substrings, one per expected difference
	}{
		{name: "same", change: func(*k3dtypes.Cluster) {}},
		{name: "image with docker.io prefix is the same", image: "docker.io/" + want.Image, change: func(*k3dtypes.Cluster) {}},
		{name: "other image", image: "rancher/k3s:v1.30.0-k3s1", change: func(*k3dtypes.Cluster) {},
			want: []string{"k3s image: the cluster runs rancher/k3s:v1.30.0-k3s1, the config wants " + want.Image}},
		{name: "an agent more", change: func(c *k3dtypes.Cluster) {
			c.Nodes = append(c.Nodes, node(k3dtypes.AgentRole, []string{"agent"}, nil, nil))
		}, want: []string{"agents: the cluster has 1, the config wants 0"}},
		{name: "seed's ports", change: func(c *k3dtypes.Cluster) {
			c.Nodes[1].Ports = lbPorts("8082", "8081", "41234")
		}, want: []string{"http host port (load balancer :80): the cluster publishes 8082, the config wants 8081", "https host port (load balancer :443): the cluster publishes 8081, the config wants 8444"}},
		{name: "traefik on", change: func(c *k3dtypes.Cluster) {
			c.Nodes[0].Cmd = []string{"server", "--tls-san", "0.0.0.0"}
		}, want: []string{"Traefik: the cluster was created without --disable=traefik"}},
		{name: "no cache network", change: func(c *k3dtypes.Cluster) {
			c.Network.Name = "k3d-neuroscale"
		}, want: []string{"network: the cluster is on k3d-neuroscale, the config (the image cache) wants neuroscale-cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(c)
			image := tt.image
			if image == "" {
				image = want.Image
			}
			got := diffShape(want, haveShape(c, image))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d differences %q, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("difference %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDiffShapeAPIPort(t *testing.T) {
	want := wantShape(Build(resolved(t, "custom")))
	c := &k3dtypes.Cluster{Network: k3dtypes.ClusterNetwork{Name: "k3d-workshop"}, Nodes: []*k3dtypes.Node{
		node(k3dtypes.ServerRole, []string{"server", "--disable=traefik"}, map[string]string{k3dtypes.LabelServerAPIPort: "6551"}, nil),
		node(k3dtypes.AgentRole, nil, nil, nil),
		node(k3dtypes.AgentRole, nil, nil, nil),
		node(k3dtypes.LoadBalancerRole, nil, nil, lbPorts("9080", "9443", "6551")),
	}}
	got := diffShape(want, haveShape(c, want.Image))
	if len(got) != 1 || !strings.Contains(got[0], "API port: the cluster publishes 6551, the config wants 6550") {
		t.Errorf("got %q", got)
	}
}

func TestTraefikDisabled(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"server", "--disable=traefik"}, true},
		{[]string{"server", "--disable", "traefik"}, true},
		{[]string{"server", "--disable=servicelb,traefik"}, true},
		{[]string{"server", "--disable=servicelb"}, false},
		{[]string{"server", "--disable"}, false},
		{[]string{"server", "--disable-helm-controller", "traefik"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := traefikDisabled(tt.args); got != tt.want {
			t.Errorf("traefikDisabled(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestConflictErrorNamesEveryDifference(t *testing.T) {
	e := &ConflictError{Cluster: "neuroscale", Diffs: []string{"a differs", "b differs"}}
	if msg := e.Error(); !strings.Contains(msg, "a differs") || !strings.Contains(msg, "b differs") {
		t.Errorf("message %q drops a difference", msg)
	}
	if !strings.Contains(e.Hint(), "--recreate") {
		t.Errorf("hint %q does not name --recreate", e.Hint())
	}
}
