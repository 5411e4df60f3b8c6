package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

func TestPlan(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config string
		text         []string
	}{
		{
			name:   "k3d",
			config: "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: dev\n",
			text:   []string{"k3d cluster neuroscale", "registry  docker.io/library/registry:2.8.3", "8. demo (neuroscale's own), namespace default, after kserve, kyverno"},
		},
		{
			name:   "existing",
			config: "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: prod\ncluster:\n  provider: existing\n  kubeconfig: " + kc + "\n  context: staging\n",
			text:   []string{"existing cluster: staging of " + kc, "1. cert-manager"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Plan(context.Background(), config.LoadOptions{Path: "-", Stdin: strings.NewReader(tt.config)})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := plan.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.text {
				if !strings.Contains(text.String(), want) {
					t.Errorf("plan lacks %q:\n%s", want, text.String())
				}
			}
			js, err := json.Marshal(plan)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				Cluster    map[string]any
				Components []map[string]any
			}
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if back.Cluster["provider"] != tt.name && !(tt.name == "k3d" && back.Cluster["provider"] == config.ProviderK3d) {
				t.Errorf("cluster %v", back.Cluster)
			}
			if _, ok := plan.Cluster.(k3d.ClusterPlan); ok != (tt.name == "k3d") {
				t.Errorf("cluster plan is a %T", plan.Cluster)
			}
			if len(back.Components) == 0 {
				t.Error("no components")
			}
		})
	}
}
