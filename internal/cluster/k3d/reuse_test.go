package k3d

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

var containerStartOptions = container.StartOptions{}

// k3sKubeconfig is the admin kubeconfig k3s writes in the server node.
func k3sKubeconfig(t *testing.T) []byte {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["default"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("ca")}
	c.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	c.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	c.CurrentContext = "default"
	b, err := clientcmd.Write(*c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// devDaemon is a Docker engine running what `up` with the dev profile
// made: the image cache and a cluster that matches the config.
func devDaemon(t *testing.T, r *config.Resolved) *dockertest.Daemon {
	t.Helper()
	d := cacheDaemon()
	name := r.Cluster.Name
	labels := func(role k3dtypes.Role, extra map[string]string) map[string]string {
		l := map[string]string{"app": "k3d", k3dtypes.LabelClusterName: name, k3dtypes.LabelRole: string(role), k3dtypes.LabelNetwork: CacheNetwork}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	hash := configHash(RegistriesYAML(Caches()))
	d.Images = append(d.Images, dockertest.Image{Ref: RegistryImage})
	d.Containers = append(d.Containers,
		dockertest.Container{
			Name: "k3d-" + name + "-server-0", Image: r.Cluster.K3sImage, Running: true, Networks: []string{CacheNetwork},
			Cmd:    []string{"server", DisableTraefik},
			Labels: labels(k3dtypes.ServerRole, map[string]string{k3dtypes.LabelServerAPIPort: "41234", k3dtypes.LabelServerAPIHost: bindIP, registriesLabel: hash}),
			Files:  map[string][]byte{"/output/kubeconfig.yaml": k3sKubeconfig(t)},
		},
		dockertest.Container{
			Name: "k3d-" + name + "-serverlb", Image: "ghcr.io/k3d-io/k3d-proxy:5.9.0", Running: true, Networks: []string{CacheNetwork},
			Labels: labels(k3dtypes.LoadBalancerRole, nil),
			Ports: map[string][]dockertest.Binding{
				"80/tcp":   {{HostIP: bindIP, HostPort: "8081"}},
				"443/tcp":  {{HostIP: bindIP, HostPort: "8444"}},
				"6443/tcp": {{HostIP: bindIP, HostPort: "41234"}},
			},
		},
	)
	return d
}

// TestEnsureReusedKeepsCurrentContext runs up against a running cluster
// after the user switched kubectl to another context: the k3d context is
// refreshed, the user's choice stays, and nothing in Docker changes.
func TestEnsureReusedKeepsCurrentContext(t *testing.T) {
	r := resolved(t, "dev")
	d := dockertest.Start(t, devDaemon(t, r))
	kc := filepath.Join(t.TempDir(), "config")
	otherKubeconfig(t, kc, 0o600) // current context: work
	t.Setenv("KUBECONFIG", kc)
	var progress bytes.Buffer
	acc, err := New(r, nil, Options{Progress: &progress}).Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if acc.Context != ContextName(r.Cluster.Name) {
		t.Errorf("access uses context %q", acc.Context)
	}
	cfg, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" {
		t.Errorf("current context = %q, want the user's work", cfg.CurrentContext)
	}
	if cfg.Contexts[ContextName(r.Cluster.Name)] == nil {
		t.Error("the cluster's context was not written")
	}
	if got := d.Requests(); len(got) != 0 {
		t.Errorf("reusing a matching running cluster changed Docker: %q", got)
	}
	if progress.Len() != 0 {
		t.Errorf("progress for a no-op: %s", progress.String())
	}
}

func TestEnsureOwnKubeconfigContext(t *testing.T) {
	r := resolved(t, "dev")
	dockertest.Start(t, devDaemon(t, r))
	// An own kubeconfig file that has lost its current context gets it
	// back; one the user pointed elsewhere keeps it.
	own := filepath.Join(t.TempDir(), "kubeconfig")
	r.Cluster.Kubeconfig = own
	if _, err := New(r, nil, Options{}).Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(own)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != ContextName(r.Cluster.Name) {
		t.Errorf("own kubeconfig without a current context: got %q", cfg.CurrentContext)
	}
	cfg.Contexts["mine"] = cfg.Contexts[ContextName(r.Cluster.Name)].DeepCopy()
	cfg.CurrentContext = "mine"
	if err := clientcmd.WriteToFile(*cfg, own); err != nil {
		t.Fatal(err)
	}
	if _, err := New(r, nil, Options{}).Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = clientcmd.LoadFromFile(own); cfg.CurrentContext != "mine" {
		t.Errorf("own kubeconfig: current context %q, want the user's mine", cfg.CurrentContext)
	}
}

func TestEnsureCacheRecreatesDrifted(t *testing.T) {
	d := cacheDaemon()
	caches := Caches()
	d.Images = append(d.Images, dockertest.Image{Ref: RegistryImage})
	d.Containers[0].Image = "registry:2"                                     // an older neuroscale's image
	d.Containers[1].Env = []string{remoteURLEnv + "=https://mirror.example"} // another upstream
	dockertest.Start(t, d)
	var progress bytes.Buffer
	p := New(resolved(t, "dev"), nil, Options{Progress: &progress})
	if err := p.ensureCache(context.Background(), dockerClient(t)); err != nil {
		t.Fatal(err)
	}
	got := d.Requests()
	for i, c := range caches {
		removed := slices.Contains(got, "DELETE /containers/"+c.Name)
		if removed != (i < 2) {
			t.Errorf("%s removed = %v, want %v (requests %q)", c.Name, removed, i < 2, got)
		}
		if slices.Contains(got, "DELETE /volumes/"+c.Volume) {
			t.Errorf("the volume of %s was removed", c.Name)
		}
		have, ok := d.Container(c.Name)
		if !ok || !have.Running || have.Image != RegistryImage || !slices.Contains(have.Env, remoteURLEnv+"="+c.RemoteURL) {
			t.Errorf("%s after ensureCache: %+v", c.Name, have)
		}
	}
	out := progress.String()
	for _, want := range []string{
		"recreating image cache " + caches[0].Name + " on its volume " + caches[0].Volume + ": image registry:2, wanted " + RegistryImage,
		"recreating image cache " + caches[1].Name + " on its volume " + caches[1].Volume + ": upstream https://mirror.example, wanted " + caches[1].RemoteURL,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	// Now they match: a second run changes nothing.
	before := len(d.Requests())
	if err := p.ensureCache(context.Background(), dockerClient(t)); err != nil {
		t.Fatal(err)
	}
	if again := d.Requests()[before:]; len(again) != 0 {
		t.Errorf("second ensureCache changed %q", again)
	}
}

// TestEnsureCacheAfterNetworkRemoved is `docker network rm
// neuroscale-cache` while the caches are stopped: up recreates the network
// and reattaches the caches, which then start.
func TestEnsureCacheAfterNetworkRemoved(t *testing.T) {
	d := cacheDaemon()
	for i := range d.Containers {
		d.Containers[i].Running = false
	}
	dockertest.Start(t, d)
	d.RemoveNetwork(CacheNetwork)
	// Without the repair Docker refuses to start them.
	if err := dockerClient(t).ContainerStart(context.Background(), Caches()[0].Name, containerStartOptions); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("starting a cache on a removed network: %v, want network not found", err)
	}
	var progress bytes.Buffer
	p := New(resolved(t, "dev"), nil, Options{Progress: &progress})
	if err := p.ensureCache(context.Background(), dockerClient(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range Caches() {
		have, _ := d.Container(c.Name)
		if !have.Running || !slices.Equal(have.Networks, []string{CacheNetwork}) {
			t.Errorf("%s: running %v on %v", c.Name, have.Running, have.Networks)
		}
		if !strings.Contains(progress.String(), "reconnected image cache "+c.Name) {
			t.Errorf("progress does not report reconnecting %s:\n%s", c.Name, progress.String())
		}
	}
}

func TestReattachNodes(t *testing.T) {
	r := resolved(t, "dev")
	d := devDaemon(t, r)
	for i := range d.Containers {
		d.Containers[i].Running = false
	}
	dockertest.Start(t, d)
	d.RemoveNetwork(CacheNetwork)
	var progress bytes.Buffer
	p := New(r, nil, Options{Progress: &progress})
	cl, err := p.get(context.Background())
	if err != nil || cl == nil {
		t.Fatalf("cluster %v: %v", cl, err)
	}
	if err := p.reattachNodes(context.Background(), dockerClient(t), cl); err != nil {
		t.Fatal(err)
	}
	dc := dockerClient(t)
	for _, n := range []string{"k3d-neuroscale-server-0", "k3d-neuroscale-serverlb"} {
		if err := dc.ContainerStart(context.Background(), n, containerStartOptions); err != nil {
			t.Errorf("start %s after reattaching: %v", n, err)
		}
		if !strings.Contains(progress.String(), "reconnected "+n+" to the network "+CacheNetwork) {
			t.Errorf("progress does not report %s:\n%s", n, progress.String())
		}
	}
}

func TestRepairRegistries(t *testing.T) {
	r := resolved(t, "dev")
	d := devDaemon(t, r)
	// Made by a neuroscale that cached only docker.io and ghcr.io, through
	// another docker.io cache.
	old := Caches()[:2]
	old[0].Name = "old-docker-cache"
	server := &d.Containers[len(d.Containers)-2]
	server.Labels[registriesLabel] = configHash(RegistriesYAML(old))
	server.Files[k3dtypes.DefaultRegistriesFilePath] = []byte(RegistriesYAML(old))
	dockertest.Start(t, d)
	p := New(r, nil, Options{})
	cl, err := p.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := RegistriesYAML(Caches())
	diffs, err := repairRegistries(context.Background(), p.rt, dockerClient(t), cl, want)
	if err != nil {
		t.Fatal(err)
	}
	wantDiffs := []string{
		"mirror for docker.io: http://old-docker-cache:5000, wanted http://neuroscale-cache-docker-io:5000",
		"mirror for gcr.io added (http://neuroscale-cache-gcr-io:5000)",
		"mirror for quay.io added (http://neuroscale-cache-quay-io:5000)",
		"mirror for registry.k8s.io added (http://neuroscale-cache-registry-k8s-io:5000)",
	}
	if !slices.Equal(diffs, wantDiffs) {
		t.Errorf("differences %q\nwant %q", diffs, wantDiffs)
	}
	have, _ := d.Container("k3d-neuroscale-server-0")
	if string(have.Files[k3dtypes.DefaultRegistriesFilePath]) != want {
		t.Errorf("registries.yaml on the server:\n%s", have.Files[k3dtypes.DefaultRegistriesFilePath])
	}
	if lb, _ := d.Container("k3d-neuroscale-serverlb"); lb.Files[k3dtypes.DefaultRegistriesFilePath] != nil {
		t.Error("registries.yaml written to the load balancer")
	}
	// The label cannot change, but the file now agrees: nothing to do.
	before := len(d.Requests())
	if diffs, err := repairRegistries(context.Background(), p.rt, dockerClient(t), cl, want); err != nil || len(diffs) != 0 {
		t.Errorf("second repair: %q, %v", diffs, err)
	}
	if again := d.Requests()[before:]; len(again) != 0 {
		t.Errorf("second repair changed %q", again)
	}
}

func TestSwitchContext(t *testing.T) {
	tests := []struct {
		name    string
		created bool
		current string
		want    bool
	}{
		{name: "created", created: true, current: "work", want: true},
		{name: "reused", current: "work", want: false},
		{name: "reused, no current context", want: true},
	}
	for _, tt := range tests {
		if got := switchContext(tt.created, tt.current); got != tt.want {
			t.Errorf("%s: switchContext = %v, want %v", tt.name, got, tt.want)
		}
	}
}
