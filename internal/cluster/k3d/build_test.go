package k3d

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-connections/nat"
	"sigs.k8s.io/yaml"

	k3dcfg "github.com/k3d-io/k3d/v5/pkg/config"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	goldenfile "github.com/neuroscale-dev/neuroscale/internal/goldentest"
)

// resolved loads a config the way the CLI does.
func resolved(t *testing.T, name string) *config.Resolved {
	t.Helper()
	var r *config.Resolved
	var err error
	switch name {
	case "dev", "prod":
		r, err = config.Resolve(&config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: name}, nil)
	default:
		r, err = config.Load(config.LoadOptions{Path: filepath.Join("testdata", name+".yaml")})
	}
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	return r
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Assert(t, filepath.Join("testdata", name), got)
}

func TestBuildGolden(t *testing.T) {
	for _, name := range []string{"dev", "prod", "custom"} {
		t.Run(name, func(t *testing.T) {
			r := resolved(t, name)
			sc := Build(r)
			out, err := yaml.Marshal(sc)
			if err != nil {
				t.Fatal(err)
			}
			if cacheEnabled(r) {
				caches, err := yaml.Marshal(map[string]any{"caches": Caches()})
				if err != nil {
					t.Fatal(err)
				}
				out = append(append(out, "---\n"...), caches...)
			}
			golden(t, name+".golden.yaml", out)
		})
	}
}

// TestBuildTransforms feeds each SimpleConfig through k3d's own transform,
// the step ClusterRun starts from, and checks the cluster k3d would create:
// what golden files cannot show is whether k3d reads them as meant.
func TestBuildTransforms(t *testing.T) {
	tests := []struct {
		name             string
		nodes            int // server + agents + load balancer
		http, https, api string
		image            string
		mirrors          bool
	}{
		{name: "dev", nodes: 2, http: "8081", https: "8444", image: config.DefaultK3sImage, mirrors: true},
		{name: "prod", nodes: 2, http: "8081", https: "8444", image: config.DefaultK3sImage, mirrors: true},
		{name: "custom", nodes: 4, http: "9080", https: "9443", api: "6550", image: "rancher/k3s:v1.32.8-k3s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := Build(resolved(t, tt.name))
			cc, err := k3dcfg.TransformSimpleToClusterConfig(context.Background(), runtimes.Docker, sc, "")
			if err != nil {
				t.Fatalf("k3d rejects the config: %v", err)
			}
			if err := k3dcfg.ValidateClusterConfig(context.Background(), runtimes.Docker, *cc); err != nil {
				t.Fatalf("k3d rejects the cluster: %v", err)
			}
			if len(cc.Nodes) != tt.nodes {
				t.Errorf("nodes = %d, want %d", len(cc.Nodes), tt.nodes)
			}
			for _, n := range cc.Nodes {
				switch n.Role {
				case k3dtypes.ServerRole:
					if !slices.Contains(n.Args, DisableTraefik) {
						t.Errorf("server %s args %v lack %s", n.Name, n.Args, DisableTraefik)
					}
					if n.Image != tt.image {
						t.Errorf("server image %s, want %s", n.Image, tt.image)
					}
				case k3dtypes.AgentRole:
					if slices.Contains(n.Args, DisableTraefik) {
						t.Errorf("agent %s got the server-only arg %s", n.Name, DisableTraefik)
					}
				}
			}
			lb := cc.ServerLoadBalancer
			if lb == nil {
				t.Fatal("no load balancer")
			}
			for port, want := range map[string]string{"80/tcp": tt.http, "443/tcp": tt.https} {
				b := lb.Node.Ports[nat.Port(port)]
				if len(b) != 1 || b[0].HostPort != want || b[0].HostIP != bindIP {
					t.Errorf("load balancer %s binds %+v, want %s:%s", port, b, bindIP, want)
				}
				if len(lb.Config.Ports[strings.Replace(port, "/", ".", 1)]) == 0 {
					t.Errorf("load balancer proxies %s to no node", port)
				}
			}
			if cc.KubeAPI.Binding.HostPort != tt.api || cc.KubeAPI.Binding.HostIP != bindIP {
				t.Errorf("API binding %+v, want %s:%s", cc.KubeAPI.Binding, bindIP, tt.api)
			}
			reg := cc.ClusterCreateOpts.Registries.Config
			if !tt.mirrors {
				if reg != nil {
					t.Errorf("registries config %+v without the image cache", reg)
				}
				return
			}
			if reg == nil {
				t.Fatal("no registries config")
			}
			for _, c := range Caches() {
				m, ok := reg.Mirrors[c.Upstream]
				if !ok || len(m.Endpoints) != 1 || m.Endpoints[0] != c.Endpoint() {
					t.Errorf("mirror for %s = %+v, want endpoint %s", c.Upstream, m, c.Endpoint())
				}
			}
			if cc.Network.Name != CacheNetwork || !cc.Network.External {
				t.Errorf("network %+v, want the shared external %s", cc.Network, CacheNetwork)
			}
		})
	}
}
