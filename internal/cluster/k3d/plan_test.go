package k3d

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// TestPlanGolden pins what `up --dry-run` says about the cluster, with
// Docker unreachable: the plan comes from the config alone.
func TestPlanGolden(t *testing.T) {
	unreachableDocker(t, "unix:///nonexistent/docker.sock")
	t.Setenv("KUBECONFIG", "/home/user/.kube/config")
	for _, env := range []string{k3dtypes.K3dEnvImageHelperTag, k3dtypes.K3dEnvImageLoadbalancer, k3dtypes.K3dEnvImageTools} {
		t.Setenv(env, "")
	}
	for _, name := range []string{"dev", "custom"} {
		t.Run(name, func(t *testing.T) {
			p := Plan(resolved(t, name))
			js, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			golden(t, "plan-"+name+".golden.json", append(js, '\n'))
			golden(t, "plan-"+name+".golden.txt", text.Bytes())
		})
	}
}

// TestPlanMatchesBuild checks the plan against the SimpleConfig that
// Ensure creates, so the two cannot drift apart.
func TestPlanMatchesBuild(t *testing.T) {
	for _, name := range []string{"dev", "prod", "custom"} {
		t.Run(name, func(t *testing.T) {
			r := resolved(t, name)
			p, sc := Plan(r), Build(r)
			if p.Images[0].Ref != sc.Image {
				t.Errorf("plan's k3s image %s, Build's %s", p.Images[0].Ref, sc.Image)
			}
			want := wantShape(sc)
			got := map[string]string{}
			for _, pt := range p.Ports {
				if pt.HostIP != bindIP {
					t.Errorf("%s binds %s, want %s", pt.Use, pt.HostIP, bindIP)
				}
				if pt.Use != UseAPI {
					got[strconv.Itoa(pt.ContainerPort)] = strconv.Itoa(pt.HostPort)
				}
			}
			for port, host := range want.LB {
				if got[port] != host {
					t.Errorf("load balancer :%s: plan says host port %s, Build %s", port, got[port], host)
				}
			}
			if p.Networks[0].Name != want.Network {
				t.Errorf("plan's network %s, Build's %s", p.Networks[0].Name, want.Network)
			}
		})
	}
}
