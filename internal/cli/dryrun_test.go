package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestUpDryRun runs `up --dry-run` with no Docker engine and no cluster:
// it must print the plan and change nothing.
func TestUpDryRun(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("DOCKER_CONTEXT", "")
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	t.Setenv("KUBECONFIG", kc)
	cfg := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nprofile: dev\n"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Execute(context.Background(), Streams{In: strings.NewReader(cfg), Out: &out, Err: &errOut},
				[]string{"up", "--dry-run", "-o", format, "--config", "-"}, []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")})
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
			if format == "text" {
				for _, want := range []string{"k3d cluster neuroscale", "ghcr.io/k3d-io/k3d-proxy:5.9.0", "127.0.0.1:8081 -> loadbalancer:80", "1. cert-manager", "demo"} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("plan lacks %q:\n%s", want, out.String())
					}
				}
				return
			}
			var plan struct {
				Cluster struct {
					Images []struct{ Role, Image string }
					Ports  []struct {
						HostIP   string `json:"hostIP"`
						HostPort int    `json:"hostPort"`
					}
				}
				Components []struct{ Name string }
			}
			if err := json.Unmarshal(out.Bytes(), &plan); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out.String())
			}
			var images []string
			for _, img := range plan.Cluster.Images {
				images = append(images, img.Image)
			}
			if !slices.Contains(images, "ghcr.io/k3d-io/k3d-proxy:5.9.0") || len(images) != 4 {
				t.Errorf("images %q", images)
			}
			if len(plan.Cluster.Ports) != 3+5 || plan.Cluster.Ports[0].HostIP != "127.0.0.1" || plan.Cluster.Ports[0].HostPort != 8081 {
				t.Errorf("ports %+v", plan.Cluster.Ports)
			}
			if len(plan.Components) == 0 || plan.Components[0].Name != "cert-manager" || plan.Components[len(plan.Components)-1].Name != "demo" {
				t.Errorf("components %+v", plan.Components)
			}
		})
	}
	if _, err := os.Stat(kc); !os.IsNotExist(err) {
		t.Errorf("the dry run wrote the kubeconfig: %v", err)
	}
}
