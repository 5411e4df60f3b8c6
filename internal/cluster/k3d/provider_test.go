package k3d

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dockerclient "github.com/docker/docker/client"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3d-io/k3d/v5/pkg/runtimes/docker"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", porttest.Free(t))
}

// unreachableDocker points the Docker client at nothing.
func unreachableDocker(t *testing.T, host string) {
	t.Setenv("DOCKER_HOST", host)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
}

func TestDockerEngineUnreachable(t *testing.T) {
	tests := []struct {
		name, host, hint string
	}{
		{name: "socket missing", host: "unix:///nonexistent/docker.sock", hint: "start Docker Desktop"},
		{name: "tcp port closed", host: "tcp://" + closedPort(t), hint: "DOCKER_HOST points at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unreachableDocker(t, tt.host)
			_, err := DockerEngine(context.Background())
			var de *DockerUnavailableError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a DockerUnavailableError", err)
			}
			if !strings.Contains(err.Error(), tt.host) {
				t.Errorf("error %q does not name %s", err, tt.host)
			}
			if !strings.Contains(de.Hint(), tt.hint) {
				t.Errorf("hint %q lacks %q", de.Hint(), tt.hint)
			}
		})
	}
}

func TestDockerEngineReachable(t *testing.T) {
	d := dockertest.Start(t, &dockertest.Daemon{})
	d.Info.NCPU, d.Info.MemTotal, d.Info.OperatingSystem = 6, 12<<30, "Docker Desktop"
	e, err := DockerEngine(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.Info.NCPU != 6 || e.Info.MemTotal != 12<<30 || e.Kind() != "docker-desktop" || e.Local() {
		t.Errorf("engine %+v: kind %s local %v", e.Info, e.Kind(), e.Local())
	}
}

// providerWithKubeconfig writes a kubeconfig holding the cluster's context
// and one of the user's own, and returns a provider that uses it.
func providerWithKubeconfig(t *testing.T, name string) (*Provider, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	otherKubeconfig(t, path, 0o600)
	if err := MergeKubeconfig(context.Background(), path, k3dKubeconfig(name, "https://127.0.0.1:41234"), true); err != nil {
		t.Fatal(err)
	}
	r := resolved(t, "dev")
	r.Cluster.Name = name
	r.Cluster.Kubeconfig = path
	return New(r, nil, Options{}), path
}

func hasContext(t *testing.T, path, context string) bool {
	t.Helper()
	c, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c.Contexts[context] != nil
}

func TestDeleteDockerUnreachable(t *testing.T) {
	unreachableDocker(t, "unix:///nonexistent/docker.sock")
	p, kc := providerWithKubeconfig(t, "neuroscale")
	before, _ := os.ReadFile(kc)
	err := p.Delete(context.Background(), false)
	var de *DockerUnavailableError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a DockerUnavailableError", err)
	}
	if !strings.Contains(err.Error(), "cannot tell whether k3d cluster neuroscale exists") {
		t.Errorf("error %q does not say what is unknown", err)
	}
	after, _ := os.ReadFile(kc)
	if string(before) != string(after) {
		t.Error("kubeconfig changed although the cluster may still exist")
	}
}

func TestEnsureDockerUnreachable(t *testing.T) {
	unreachableDocker(t, "unix:///nonexistent/docker.sock")
	p, _ := providerWithKubeconfig(t, "neuroscale")
	_, err := p.Ensure(context.Background())
	var de *DockerUnavailableError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a DockerUnavailableError", err)
	}
}

func TestDeleteMissingCluster(t *testing.T) {
	d := dockertest.Start(t, &dockertest.Daemon{
		// Another cluster's pieces must survive.
		Volumes:  []dockertest.Volume{{Name: "k3d-other-images", Labels: map[string]string{"app": "k3d", k3dtypes.LabelClusterName: "other"}}},
		Networks: []dockertest.Network{{Name: "k3d-other", Labels: map[string]string{"app": "k3d"}}},
	})
	p, kc := providerWithKubeconfig(t, "neuroscale")
	for i := range 2 { // safe twice
		if err := p.Delete(context.Background(), false); err != nil {
			t.Fatalf("delete %d: %v", i+1, err)
		}
	}
	if hasContext(t, kc, "k3d-neuroscale") {
		t.Error("stale kubeconfig context left behind")
	}
	if !hasContext(t, kc, "work") {
		t.Error("the user's own context was removed")
	}
	if r := d.Requests(); len(r) != 0 {
		t.Errorf("changed Docker objects of nobody's cluster: %q", r)
	}
}

func TestDeleteHalfCreated(t *testing.T) {
	// What a creation that died before its first container leaves.
	d := dockertest.Start(t, &dockertest.Daemon{
		Volumes:  []dockertest.Volume{{Name: "k3d-neuroscale-images", Labels: map[string]string{"app": "k3d", k3dtypes.LabelClusterName: "neuroscale"}}},
		Networks: []dockertest.Network{{Name: "k3d-neuroscale", Labels: map[string]string{"app": "k3d"}}},
	})
	p, _ := providerWithKubeconfig(t, "neuroscale")
	if err := p.Delete(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	got := d.Requests()
	for _, want := range []string{"DELETE /volumes/k3d-neuroscale-images"} {
		if !slices.Contains(got, want) {
			t.Errorf("requests %q lack %q", got, want)
		}
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "DELETE /networks/") }) {
		t.Errorf("requests %q do not remove the cluster network", got)
	}
	if err := p.Delete(context.Background(), false); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if again := d.Requests(); len(again) != len(got) {
		t.Errorf("second delete changed more: %q", again[len(got):])
	}
}

// cacheDaemon is a Docker engine holding the image cache.
func cacheDaemon() *dockertest.Daemon {
	d := &dockertest.Daemon{Networks: []dockertest.Network{{Name: CacheNetwork, Labels: map[string]string{"app": "k3d"}}}}
	for _, c := range Caches() {
		d.Containers = append(d.Containers, dockertest.Container{
			Name: c.Name, Image: RegistryImage, Running: true, Networks: []string{CacheNetwork},
			Env:    []string{remoteURLEnv + "=" + c.RemoteURL},
			Labels: map[string]string{"app": "k3d", k3dtypes.LabelClusterName: "", k3dtypes.LabelRole: string(k3dtypes.RegistryRole)},
		})
		d.Volumes = append(d.Volumes, dockertest.Volume{Name: c.Volume, Labels: map[string]string{"app": "k3d", cacheLabel: c.Upstream}})
	}
	return d
}

func TestDeleteKeepsCacheUnlessPurged(t *testing.T) {
	tests := []struct {
		name    string
		purge   bool
		opts    Options
		removed bool
	}{
		{name: "down", removed: false},
		{name: "down --purge", purge: true, removed: true},
		{name: "Options.Purge", opts: Options{Purge: true}, removed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dockertest.Start(t, cacheDaemon())
			p, _ := providerWithKubeconfig(t, "neuroscale")
			p.opts.Purge = tt.opts.Purge
			if err := p.Delete(context.Background(), tt.purge); err != nil {
				t.Fatal(err)
			}
			got := d.Requests()
			for _, c := range Caches() {
				for _, req := range []string{"DELETE /containers/" + c.Name, "DELETE /volumes/" + c.Volume} {
					if slices.Contains(got, req) != tt.removed {
						t.Errorf("%s: request %q made = %v, want %v", tt.name, req, !tt.removed, tt.removed)
					}
				}
			}
		})
	}
}

// clusterDaemon is a Docker engine running a k3d cluster made by an older
// neuroscale: another k3s, the seed's ports, Traefik left on.
func clusterDaemon(name string) *dockertest.Daemon {
	net := "k3d-" + name
	labels := func(role k3dtypes.Role, extra map[string]string) map[string]string {
		l := map[string]string{"app": "k3d", k3dtypes.LabelClusterName: name, k3dtypes.LabelRole: string(role), k3dtypes.LabelNetwork: net}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	return &dockertest.Daemon{
		Networks: []dockertest.Network{{Name: net, Labels: map[string]string{"app": "k3d"}}},
		Containers: []dockertest.Container{
			{
				Name: "k3d-" + name + "-server-0", Image: "rancher/k3s:v1.29.1-k3s1", Running: true, Networks: []string{net},
				Cmd:    []string{"server", "--tls-san", "0.0.0.0"},
				Labels: labels(k3dtypes.ServerRole, map[string]string{k3dtypes.LabelServerAPIPort: "6550", k3dtypes.LabelServerAPIHost: "0.0.0.0"}),
			},
			{
				Name: "k3d-" + name + "-serverlb", Image: "ghcr.io/k3d-io/k3d-proxy:5.9.0", Running: true, Networks: []string{net},
				Labels: labels(k3dtypes.LoadBalancerRole, nil),
				Ports: map[string][]dockertest.Binding{
					"80/tcp":   {{HostIP: "0.0.0.0", HostPort: "8082"}},
					"443/tcp":  {{HostIP: "0.0.0.0", HostPort: "8081"}},
					"6443/tcp": {{HostIP: "0.0.0.0", HostPort: "6550"}},
				},
			},
		},
	}
}

func TestEnsureReportsConflict(t *testing.T) {
	dockertest.Start(t, clusterDaemon("workshop"))
	r := resolved(t, "custom") // imageCache: false, so no cache is started
	r.Cluster.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	_, err := New(r, nil, Options{}).Ensure(context.Background())
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a ConflictError", err)
	}
	want := []string{
		"k3s image: the cluster runs rancher/k3s:v1.29.1-k3s1, the config wants rancher/k3s:v1.32.8-k3s1",
		"agents: the cluster has 0, the config wants 2",
		"http host port (load balancer :80): the cluster publishes 8082, the config wants 9080",
		"https host port (load balancer :443): the cluster publishes 8081, the config wants 9443",
		"Traefik: the cluster was created without --disable=traefik",
	}
	if len(ce.Diffs) != len(want) {
		t.Fatalf("differences %q, want %d", ce.Diffs, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(ce.Diffs[i], want[i]) {
			t.Errorf("difference %d = %q, want %q", i, ce.Diffs[i], want[i])
		}
	}
	if _, err := os.Stat(r.Cluster.Kubeconfig); !os.IsNotExist(err) {
		t.Error("a conflicting cluster's kubeconfig was written")
	}
}

func TestDeleteExistingCluster(t *testing.T) {
	d := dockertest.Start(t, clusterDaemon("neuroscale"))
	d.Containers = append(d.Containers, cacheDaemon().Containers...)
	p, kc := providerWithKubeconfig(t, "neuroscale")
	if err := p.Delete(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	got := d.Requests()
	for _, want := range []string{"DELETE /containers/k3d-neuroscale-server-0", "DELETE /containers/k3d-neuroscale-serverlb"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("requests %q lack %q", got, want)
		}
	}
	if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "neuroscale-cache") }) {
		t.Errorf("down touched the image cache: %q", got)
	}
	if hasContext(t, kc, "k3d-neuroscale") {
		t.Error("kubeconfig context left behind")
	}
	if err := p.Delete(context.Background(), false); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestPublishedPorts(t *testing.T) {
	dockertest.Start(t, clusterDaemon("neuroscale"))
	got, err := PublishedPorts(context.Background(), "neuroscale")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{8082: UseHTTP, 8081: UseHTTPS, 6550: UseAPI}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for p, u := range want {
		if got[p] != u {
			t.Errorf("port %d: %q, want %q", p, got[p], u)
		}
	}
	none, err := PublishedPorts(context.Background(), "other")
	if err != nil || len(none) != 0 {
		t.Errorf("missing cluster: %v, %v", none, err)
	}
}

// TestEnsureTellsItsSteps: Ensure says when reusing the cluster starts and
// ends, and how it ended, so up can show it while it happens.
func TestEnsureTellsItsSteps(t *testing.T) {
	dockertest.Start(t, clusterDaemon("workshop"))
	r := resolved(t, "custom") // imageCache: false, so no cache is started
	r.Cluster.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	var steps []string
	_, err := New(r, nil, Options{Step: func(name string) func(error) {
		steps = append(steps, "start "+name)
		return func(err error) {
			var ce *ConflictError
			steps = append(steps, fmt.Sprintf("end %s conflict=%v", name, errors.As(err, &ce)))
		}
	}}).Ensure(context.Background())
	if err == nil {
		t.Fatal("a conflicting cluster was reused")
	}
	if got := strings.Join(steps, "; "); got != "start start-cluster; end start-cluster conflict=true" {
		t.Errorf("steps: %s", got)
	}
}

// dockerClient is a Docker client for the test daemon, built as k3d does.
func dockerClient(t *testing.T) dockerclient.APIClient {
	t.Helper()
	dc, err := docker.GetDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}
