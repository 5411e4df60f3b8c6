package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

// resolved is the dev profile with provider and ports set for the test.
func resolved(t *testing.T, provider string) *config.Resolved {
	t.Helper()
	r, err := config.Resolve(&config.Platform{APIVersion: config.APIVersion, Kind: config.KindPlatform}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Cluster.Provider = provider
	r.Sources.CacheDir = t.TempDir()
	if provider == config.ProviderExisting {
		r.Cluster.Kubeconfig = kubeconfig(t, apiServer(t, "v1.33.1").URL)
	}
	// Ports nobody uses, so only what a test sets up is busy.
	r.Cluster.Ports.HTTP, r.Cluster.Ports.HTTPS = porttest.Free(t), porttest.Free(t)
	for i := range r.Forwards {
		r.Forwards[i].LocalPort = porttest.Free(t)
	}
	return r
}

// apiServer answers /version like a Kubernetes API server of gitVersion.
func apiServer(t *testing.T, gitVersion string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"major":"1","minor":"x","gitVersion":%q}`, gitVersion)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// kubeconfig writes a kubeconfig whose current context reaches server.
func kubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	y := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`, server)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *diag.Failed
	if !errors.As(err, &pe) || pe.Check != "preflight" {
		t.Fatalf("got %T %v, want a *diag.Failed of preflight", err, err)
	}
	return pe.Diagnostics
}

// expect checks that probs are exactly the wanted checks, each message
// holding its substrings.
func expect(t *testing.T, probs []Problem, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, p := range probs {
		got[p.ID] = append(got[p.ID], p.String())
	}
	for check, subs := range want {
		all := strings.Join(got[check], "\n")
		if len(got[check]) == 0 {
			t.Errorf("no %s problem; got %q", check, probs)
		}
		for _, s := range subs {
			if !strings.Contains(all, s) {
				t.Errorf("%s problems %q lack %q", check, all, s)
			}
		}
	}
	for check, msgs := range got {
		if _, ok := want[check]; !ok {
			t.Errorf("unexpected %s problem: %q", check, msgs)
		}
	}
}

func TestPortsExisting(t *testing.T) {
	t.Parallel()
	busy := porttest.Occupied(t)
	tests := []struct {
		name string
		set  func(r *config.Resolved)
		want map[string][]string
	}{
		{name: "all free", set: func(*config.Resolved) {}},
		{name: "forward port busy", set: func(r *config.Resolved) { r.Forwards[2].LocalPort = busy }, want: map[string][]string{
			"port": {fmt.Sprintf("port %d, wanted by the demo port-forward, is already in use by pid %d", busy, os.Getpid()), "change forwards[2].localPort"},
		}},
		{name: "two forwards on one port", set: func(r *config.Resolved) { r.Forwards[1].LocalPort = r.Forwards[0].LocalPort }, want: map[string][]string{
			"port": {"is wanted by both the backstage port-forward and the argocd port-forward", "forwards[0].localPort, forwards[1].localPort"},
		}},
		// The existing provider creates no load balancer: its ports are
		// not this machine's business.
		{name: "load balancer ports ignored", set: func(r *config.Resolved) { r.Cluster.Ports.HTTP = busy }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := resolved(t, config.ProviderExisting)
			tt.set(r)
			expect(t, problems(t, Run(context.Background(), r, Options{})), tt.want)
		})
	}
}

// TestExistingCluster: for provider existing, preflight reaches the
// cluster and reads its version before anything is rendered or applied.
func TestExistingCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func(t *testing.T) string
		want   map[string][]string
	}{
		{name: "recent", server: func(t *testing.T) string { return apiServer(t, "v1.33.1+k3s1").URL }},
		{name: "too old", server: func(t *testing.T) string { return apiServer(t, "v1.24.17").URL }, want: map[string][]string{
			"version": {"runs Kubernetes 1.24.17; the platform needs 1.25.0 or newer", "upgrade the cluster"},
		}},
		{name: "not answering", server: func(t *testing.T) string { return fmt.Sprintf("https://127.0.0.1:%d", porttest.Free(t)) }, want: map[string][]string{
			"cluster": {"cluster unreachable: https://127.0.0.1:", "connection refused", "point --kubeconfig/--context at a running one"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := resolved(t, config.ProviderExisting)
			r.Cluster.Kubeconfig = kubeconfig(t, tt.server(t))
			expect(t, problems(t, Run(context.Background(), r, Options{})), tt.want)
		})
	}
	t.Run("no kubeconfig", func(t *testing.T) {
		t.Parallel()
		r := resolved(t, config.ProviderExisting)
		r.Cluster.Kubeconfig = filepath.Join(t.TempDir(), "missing")
		expect(t, problems(t, Run(context.Background(), r, Options{})), map[string][]string{"cluster": {"cannot use the kubeconfig's current context", "missing"}})
	})
}

// TestSeedPortsDockerDown is the seed's setup on a machine whose Docker is
// off: every problem comes back in one error.
func TestSeedPortsDockerDown(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	r := resolved(t, config.ProviderK3d)
	// The https port is also held by some other program.
	lbHTTP, lbHTTPS := porttest.Free(t), porttest.Occupied(t)
	r.Cluster.Ports.HTTP, r.Cluster.Ports.HTTPS = lbHTTP, lbHTTPS
	// The seed's port-forward script reused the load balancer's ports.
	r.Forwards[0].LocalPort, r.Forwards[1].LocalPort = lbHTTP, lbHTTPS
	err := Run(context.Background(), r, Options{})
	t.Log(err)
	expect(t, problems(t, err), map[string][]string{
		"docker": {"Docker is not reachable at unix:///nonexistent/docker.sock", "start Docker Desktop"},
		"port": {
			fmt.Sprintf("port %d is wanted by both the k3d load balancer (http) and the backstage port-forward", lbHTTP),
			fmt.Sprintf("port %d is wanted by both the k3d load balancer (https) and the argocd port-forward", lbHTTPS),
			fmt.Sprintf("port %d, wanted by the k3d load balancer (https), is already in use", lbHTTPS),
		},
	})
	var h interface{ Hint() string }
	if !errors.As(err, &h) || !strings.Contains(h.Hint(), "nothing was changed") {
		t.Errorf("error %v has no hint", err)
	}
}

func TestDockerTCPPortClosed(t *testing.T) {
	t.Setenv("DOCKER_HOST", fmt.Sprintf("tcp://127.0.0.1:%d", porttest.Free(t)))
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	expect(t, problems(t, Run(context.Background(), resolved(t, config.ProviderK3d), Options{})), map[string][]string{
		"docker": {"Docker is not reachable at tcp://127.0.0.1:", "DOCKER_HOST points at"},
	})
}

func TestResources(t *testing.T) {
	tests := []struct {
		name           string
		os, engineName string
		cpus           int
		memGiB         float64
		diskGiB        int
		want           map[string][]string
	}{
		{name: "enough", os: "Ubuntu 24.04", cpus: 8, memGiB: 16, diskGiB: 1},
		{name: "Docker Desktop at 8 GB reports less and passes", os: "Docker Desktop", cpus: 4, memGiB: 7.7, diskGiB: 1},
		{name: "Docker Desktop too small", os: "Docker Desktop", cpus: 2, memGiB: 3.8, diskGiB: 1, want: map[string][]string{
			"memory": {"Docker has 3.8 GiB of memory; the dev profile needs about 8 GiB", "Settings → Resources"},
			"cpus":   {"Docker has 2 CPUs; the dev profile needs 4", "Settings → Resources"},
		}},
		{name: "colima too small", os: "Ubuntu 24.04 LTS", engineName: "colima", cpus: 2, memGiB: 2, diskGiB: 1, want: map[string][]string{
			"memory": {"colima stop && colima start --memory 8 --cpu 4"},
			"cpus":   {"colima start --memory 8 --cpu 4"},
		}},
		{name: "no disk left", os: "Ubuntu 24.04", cpus: 8, memGiB: 16, diskGiB: 1 << 30, want: map[string][]string{
			"disk": {"GiB free in", "(the cache directory)", "needs about 1073741824 GiB", "docker system prune -a"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dockertest.Start(t, &dockertest.Daemon{})
			d.Info.OperatingSystem, d.Info.Name = tt.os, tt.engineName
			d.Info.NCPU, d.Info.MemTotal = tt.cpus, int64(tt.memGiB*(1<<30))
			d.Info.DockerRootDir = "/var/lib/docker"
			r := resolved(t, config.ProviderK3d)
			r.Requirements.DiskGiB = tt.diskGiB
			expect(t, problems(t, Run(context.Background(), r, Options{})), tt.want)
		})
	}
}

// existingCluster is a Docker engine running the k3d cluster neuroscale
// made before, its load balancer publishing http and https.
func existingCluster(http, https int) *dockertest.Daemon {
	labels := func(role string) map[string]string {
		return map[string]string{"app": "k3d", "k3d.cluster": "neuroscale", "k3d.role": role, "k3d.cluster.network": "neuroscale-cache"}
	}
	return &dockertest.Daemon{Containers: []dockertest.Container{
		{Name: "k3d-neuroscale-server-0", Image: config.DefaultK3sImage, Running: true, Labels: labels("server"), Networks: []string{"neuroscale-cache"}},
		{Name: "k3d-neuroscale-serverlb", Image: "ghcr.io/k3d-io/k3d-proxy:5.9.0", Running: true, Labels: labels("loadbalancer"), Networks: []string{"neuroscale-cache"},
			Ports: map[string][]dockertest.Binding{
				"80/tcp":  {{HostIP: "127.0.0.1", HostPort: fmt.Sprint(http)}},
				"443/tcp": {{HostIP: "127.0.0.1", HostPort: fmt.Sprint(https)}},
			}},
	}}
}

func TestRerunOwnPorts(t *testing.T) {
	// Listeners stand in for the load balancer's published ports.
	http, https := porttest.Occupied(t), porttest.Occupied(t)
	tests := []struct {
		name string
		set  func(r *config.Resolved)
		want map[string][]string
	}{
		{name: "same ports as the cluster", set: func(r *config.Resolved) {
			r.Cluster.Ports.HTTP, r.Cluster.Ports.HTTPS = http, https
		}},
		{name: "http and https swapped", set: func(r *config.Resolved) {
			r.Cluster.Ports.HTTP, r.Cluster.Ports.HTTPS = https, http
		}, want: map[string][]string{"port": {
			fmt.Sprintf("port %d, wanted by the k3d load balancer (http), is published by the existing k3d cluster for its https port", https),
			"neuroscale up --recreate",
		}}},
		{name: "a forward on the cluster's http port", set: func(r *config.Resolved) {
			r.Cluster.Ports.HTTP, r.Cluster.Ports.HTTPS = http, https
			r.Forwards[2].LocalPort = http
		}, want: map[string][]string{"port": {
			fmt.Sprintf("port %d is wanted by both the k3d load balancer (http) and the demo port-forward", http),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dockertest.Start(t, existingCluster(http, https))
			d.Info.NCPU, d.Info.MemTotal = 8, 16<<30
			r := resolved(t, config.ProviderK3d)
			r.Requirements.DiskGiB = 0
			tt.set(r)
			expect(t, problems(t, Run(context.Background(), r, Options{})), tt.want)
		})
	}
}
