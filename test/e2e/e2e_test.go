//go:build e2e

// Package e2e runs the real neuroscale binary against a real Docker
// engine: `up` creates a k3d cluster and installs the platform, `status`
// reports it, the demo model answers a prediction through the supervised
// port-forward, `down` deletes the cluster, a second `up` comes back
// through the image cache, and further ups repair what a laptop does to a
// cluster: kubectl switched elsewhere, a stopped cluster, a removed cache
// network, an older cache and mirror configuration. It is behind the e2e build tag and skips, with
// the reason, when no Docker engine answers:
//
//	go test -tags e2e -v -timeout 60m ./test/e2e/
//
// NEUROSCALE_E2E_KEEP=1 leaves the cluster and cache in place afterwards.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/k3d-io/k3d/v5/pkg/runtimes/docker"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

const (
	// upTimeout is how long one `up` may take: the first pulls every
	// image (about 6-10 minutes on a laptop with a warm network).
	upTimeout = 30 * time.Minute
	// clusterName keeps the test off a developer's own "neuroscale".
	clusterName = "neuroscale-e2e"
	predictBody = `{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}`
)

func TestUpStatusPredictDownUp(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped with -short")
	}
	ctx := context.Background()
	eng, err := k3d.DockerEngine(ctx)
	if err != nil {
		// The CLI alone is not enough: it is the daemon that runs k3d.
		t.Skipf("e2e needs a running Docker engine: %v", err)
	}
	t.Logf("Docker %s at %s: %d CPUs, %.1f GiB", eng.Info.ServerVersion, eng.Host, eng.Info.NCPU, float64(eng.Info.MemTotal)/(1<<30))

	dir := t.TempDir()
	bin := testcluster.BuildNeuroscale(t, dir)
	demoPort := porttest.Free(t)
	cfg := writeConfig(t, dir, demoPort)
	run := func(timeout time.Duration, args ...string) string {
		t.Helper()
		return neuroscale(t, bin, dir, timeout, append([]string{"--config", cfg}, args...)...)
	}
	t.Cleanup(func() {
		if os.Getenv("NEUROSCALE_E2E_KEEP") != "" {
			t.Logf("NEUROSCALE_E2E_KEEP is set: cluster %s and the image cache are left running", clusterName)
			return
		}
		neuroscale(t, bin, dir, 5*time.Minute, "--config", cfg, "down", "--purge")
	})

	// 1. up, then predict through the forward that up supervises.
	first := time.Now()
	up := startUp(t, bin, dir, cfg)
	predict(t, up, demoPort, upTimeout)
	t.Logf("first up answered a prediction after %s", time.Since(first).Round(time.Second))

	// 2. status while the platform runs.
	out := run(2*time.Minute, "status", "-o", "json")
	if !json.Valid([]byte(out)) {
		t.Errorf("status -o json printed no JSON:\n%s", out)
	}
	up.stop(t)
	cached := cacheCatalogs(t)
	if len(cached) == 0 {
		t.Error("no image went through the pull-through cache")
	}

	// 3. down, twice: the second finds nothing and still succeeds.
	run(5*time.Minute, "down")
	run(5*time.Minute, "down")
	if ports, err := k3d.PublishedPorts(ctx, clusterName); err != nil || len(ports) != 0 {
		t.Fatalf("after down the cluster still publishes %v (%v)", ports, err)
	}

	// 4. up again: the cache survived down and already holds every image.
	second := time.Now()
	up = startUp(t, bin, dir, cfg)
	predict(t, up, demoPort, upTimeout)
	t.Logf("second up answered a prediction after %s", time.Since(second).Round(time.Second))
	up.stop(t)
	again := cacheCatalogs(t)
	for repo := range again {
		if !cached[repo] {
			t.Errorf("second up fetched %s, which the first up did not need", repo)
		}
	}

	// 5. What a laptop does to a cluster between two ups (issue #17).
	laptopRepairs(t, bin, dir, cfg)
}

// laptopRepairs runs `up` after the things a laptop user does: plans it
// dry, switches kubectl elsewhere, stops the cluster and removes the cache
// network, and meets a cache and mirrors made by an older neuroscale.
func laptopRepairs(t *testing.T, bin, dir, cfg string) {
	ctx := context.Background()
	dc, err := docker.GetDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	upAgain := func() string {
		t.Helper()
		return neuroscaleAll(t, bin, dir, upTimeout, "--config", cfg, "up", "--no-forward", "--no-verify")
	}

	// The plan names the pinned images, and they are what runs.
	var plan struct{ Cluster k3d.ClusterPlan }
	out := neuroscale(t, bin, dir, 2*time.Minute, "--config", cfg, "up", "--dry-run", "-o", "json")
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("up --dry-run -o json: %v\n%s", err, out)
	}
	for _, img := range plan.Cluster.Images {
		if strings.HasSuffix(img.Ref, ":latest") {
			t.Errorf("%s image %s is not pinned", img.Role, img.Ref)
		}
		if _, err := dc.ImageInspect(ctx, img.Ref); err != nil {
			t.Errorf("planned %s image %s is not in Docker: %v", img.Role, img.Ref, err)
		}
	}
	if lb, err := dc.ContainerInspect(ctx, "k3d-"+clusterName+"-serverlb"); err != nil || !strings.HasSuffix(lb.Config.Image, ":5.9.0") {
		t.Errorf("load balancer runs %v (%v), want k3d-proxy at k3d's tag", lb.Config, err)
	}

	// The user switched kubectl to another context: up leaves it.
	kc := filepath.Join(dir, "kubeconfig")
	setCurrentContext(t, kc, "elsewhere")
	upAgain()
	if got := currentContext(t, kc); got != "elsewhere" {
		t.Errorf("up on an existing cluster made %q current, want the user's elsewhere", got)
	}

	// A reboot, then `docker network rm neuroscale-cache`.
	var stopped []string
	for _, f := range []filters.KeyValuePair{filters.Arg("label", "k3d.cluster="+clusterName), filters.Arg("name", "neuroscale-cache-")} {
		list, err := dc.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(f)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if err := dc.ContainerStop(ctx, c.ID, container.StopOptions{}); err != nil {
				t.Fatal(err)
			}
			stopped = append(stopped, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	if err := dc.NetworkRemove(ctx, k3d.CacheNetwork); err != nil {
		t.Fatalf("docker network rm %s: %v", k3d.CacheNetwork, err)
	}
	log := upAgain()
	for _, name := range stopped {
		st, err := dc.ContainerInspect(ctx, name)
		if err != nil || !st.State.Running || st.NetworkSettings.Networks[k3d.CacheNetwork] == nil {
			t.Errorf("%s after up: running %v, networks %v (%v)\n%s", name, st.State != nil && st.State.Running, st.NetworkSettings, err, log)
		}
	}

	// An older neuroscale's cache (another upstream) and mirrors (fewer).
	gcr := k3d.Caches()[3]
	if err := dc.ContainerRemove(ctx, gcr.Name, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err = dc.ContainerCreate(ctx,
		&container.Config{Image: k3d.RegistryImage, Env: []string{"REGISTRY_PROXY_REMOTEURL=https://mirror.gcr.io"}, Labels: map[string]string{"app": "k3d"}},
		&container.HostConfig{Binds: []string{gcr.Volume + ":/var/lib/registry"}},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{k3d.CacheNetwork: {}}}, nil, gcr.Name)
	if err != nil {
		t.Fatal(err)
	}
	server := "k3d-" + clusterName + "-server-0"
	if err := dc.CopyToContainer(ctx, server, "/etc/rancher/k3s", tarOf(t, "registries.yaml", k3d.RegistriesYAML(k3d.Caches()[:2])), container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
	log = upAgain()
	for _, want := range []string{"recreating image cache " + gcr.Name, "mirror for gcr.io added"} {
		if !strings.Contains(log, want) {
			t.Errorf("up did not report %q:\n%s", want, log)
		}
	}
	if st, err := dc.ContainerInspect(ctx, gcr.Name); err != nil || !slices.Contains(st.Config.Env, "REGISTRY_PROXY_REMOTEURL="+gcr.RemoteURL) {
		t.Errorf("%s was not recreated with its upstream: %v", gcr.Name, err)
	}
	rc, _, err := dc.CopyFromContainer(ctx, server, "/etc/rancher/k3s/registries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(tr)
	for _, c := range k3d.Caches() {
		if !strings.Contains(string(got), c.Endpoint()) {
			t.Errorf("registries.yaml after up lacks the mirror %s:\n%s", c.Endpoint(), got)
		}
	}
}

// tarOf is a tar stream holding one file.
func tarOf(t *testing.T, name, content string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// setCurrentContext adds a context name (pointing nowhere) to the
// kubeconfig at path and makes it current, as `kubectl config
// use-context` would.
func setCurrentContext(t *testing.T, path, name string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://elsewhere.invalid:6443"}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name}
	cfg.CurrentContext = name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func currentContext(t *testing.T, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.CurrentContext
}

// writeConfig writes a neuroscale.yaml with free ports and a kubeconfig of
// its own, so the test never touches the developer's ~/.kube/config.
func writeConfig(t *testing.T, dir string, demoPort int) string {
	t.Helper()
	backstage := porttest.Free(t)
	cfg := fmt.Sprintf(`apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profile: dev
cluster:
  provider: k3d
  name: %s
  kubeconfig: %s
  ports:
    http: %d
    https: %d
backstage:
  baseUrl: http://localhost:%d
forwards:
  - {name: backstage, namespace: backstage, service: neuroscale-backstage, localPort: %d, remotePort: 7007, probe: /.backstage/health/v1/readiness}
  - {name: argocd, namespace: argocd, service: argocd-server, localPort: %d, remotePort: 443, scheme: https, probe: /healthz}
  - {name: demo, namespace: default, service: demo-iris-2-predictor, localPort: %d, remotePort: 80, probe: /v1/models/demo-iris-2}
`, clusterName, filepath.Join(dir, "kubeconfig"), porttest.Free(t), porttest.Free(t), backstage, backstage, porttest.Free(t), demoPort)
	path := filepath.Join(dir, "neuroscale.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// neuroscale runs one command to completion and returns its stdout.
func neuroscale(t *testing.T, bin, dir string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("neuroscale %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// neuroscaleAll runs one command to completion and returns its standard
// output and error together (progress and reports go to standard error).
func neuroscaleAll(t *testing.T, bin, dir string, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out lockedBuffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("neuroscale %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// upProcess is a running `up`, which installs the platform and then
// supervises the port-forwards until interrupted.
type upProcess struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

// startUp starts `up`; the test's cleanup stops it if the test does not.
func startUp(t *testing.T, bin, dir, cfg string) *upProcess {
	t.Helper()
	u := &upProcess{log: &lockedBuffer{}, exited: make(chan struct{})}
	u.cmd = exec.Command(bin, "--config", cfg, "up")
	u.cmd.Dir, u.cmd.Stdout, u.cmd.Stderr = dir, u.log, u.log
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.err = u.cmd.Wait(); close(u.exited) }()
	t.Cleanup(func() { u.stop(t) })
	return u
}

// stop interrupts up as Ctrl-C would and checks that it exits cleanly.
func (u *upProcess) stop(t *testing.T) {
	t.Helper()
	select {
	case <-u.exited:
		return
	default:
	}
	_ = u.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-u.exited:
		if u.err != nil {
			t.Errorf("up exited with %v after Ctrl-C:\n%s", u.err, u.log.String())
		}
	case <-time.After(time.Minute):
		_ = u.cmd.Process.Kill()
		t.Errorf("up did not exit within a minute of Ctrl-C:\n%s", u.log.String())
	}
}

// predict posts the seed's request through the demo forward until the
// model answers {"predictions":[1,1]}, up dies, or the time is up.
func predict(t *testing.T, u *upProcess, port int, within time.Duration) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/models/demo-iris-2:predict", port)
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-u.exited:
			t.Fatalf("up exited (%v) before the model answered:\n%s", u.err, u.log.String())
		default:
		}
		resp, err := http.Post(url, "application/json", strings.NewReader(predictBody))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct{ Predictions []int }
			if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &got) == nil && fmt.Sprint(got.Predictions) == "[1 1]" {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(5 * time.Second)
	}
	t.Fatalf("no prediction from %s within %s; last answer: %s\nup's output:\n%s", url, within, last, u.log.String())
}

// cacheCatalogs lists the repositories each pull-through cache holds, read
// from the caches' published loopback ports.
func cacheCatalogs(t *testing.T) map[string]bool {
	t.Helper()
	dc, err := docker.GetDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	repos := map[string]bool{}
	for _, c := range k3d.Caches() {
		port, err := publishedPort(dc, c.Name)
		if err != nil {
			t.Errorf("cache %s: %v", c.Name, err)
			continue
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/v2/_catalog?n=1000", port))
		if err != nil {
			t.Errorf("cache %s: %v", c.Name, err)
			continue
		}
		var cat struct{ Repositories []string }
		err = json.NewDecoder(resp.Body).Decode(&cat)
		resp.Body.Close()
		if err != nil {
			t.Errorf("cache %s catalog: %v", c.Name, err)
		}
		for _, r := range cat.Repositories {
			repos[c.Upstream+"/"+r] = true
		}
	}
	return repos
}

func publishedPort(dc dockerclient.APIClient, name string) (string, error) {
	st, err := dc.ContainerInspect(context.Background(), name)
	if err != nil {
		return "", err
	}
	if st.NetworkSettings == nil {
		return "", fmt.Errorf("not running")
	}
	for _, b := range st.NetworkSettings.Ports["5000/tcp"] {
		if b.HostPort != "" {
			return b.HostPort, nil
		}
	}
	return "", fmt.Errorf("port 5000 is not published")
}

// lockedBuffer collects a child's output from two streams at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
