// Package testcluster gives integration tests a real Kubernetes control
// plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// built from Go modules, with kwok playing the kubelet and a small simulator
// playing load balancers, storage, KServe and ArgoCD (see scripts/testcluster
// and the README (section The test cluster)).
//
// A test package starts at most one cluster, shared by its tests, and only
// when a test first asks for it:
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
//
//	func TestInstall(t *testing.T) {
//		c := testcluster.Get(t)
//		ns := c.Namespace(t)
//		cfg := c.RESTConfig()
//		...
//	}
//
// Tests that need a cluster of their own (webhooks on, a stop test) call
// Start and Stop. The first start may build the binaries (about 7 minutes
// with a cold Go cache); CI runs `scripts/testcluster build` beforehand so
// that no test pays it under the test timeout.
//
// The package uses only client-go and apimachinery, never k8s.io/kubernetes,
// so it can live in the product's module.
package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvKeep, when set to a non-empty value, keeps every cluster directory
// (kubeconfig, logs, etcd data) after the cluster stops, for debugging.
const EnvKeep = "NEUROSCALE_TESTCLUSTER_KEEP"

// ProcessNames returns the names under which the processes of a cluster
// are recorded in DIR/pids, in the order scripts/testcluster stop stops them.
func ProcessNames() []string {
	return []string{"supervisor", "sim", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}
}

// Option changes how a cluster is started.
type Option func(*options)

type options struct {
	webhooks bool
	simulate bool
	delays   []podReadyDelay
	dir      string
	real     []string
}

type podReadyDelay struct {
	selector string
	delay    time.Duration
}

// WithWebhooks makes the API server call admission webhooks. Their pods are
// simulated, so every webhook call fails as on a broken cluster: use it to
// test waits and diagnosis. The default is off: webhook configurations are
// accepted and never called.
func WithWebhooks(on bool) Option { return func(o *options) { o.webhooks = on } }

// WithPodReadyDelay keeps pods matching selector (key=value[,key=value],
// equality only) Pending for d before they become Ready, e.g. to play a
// slow Backstage. By default every pod is Ready at once.
func WithPodReadyDelay(selector string, d time.Duration) Option {
	return func(o *options) { o.delays = append(o.delays, podReadyDelay{selector, d}) }
}

// WithSimulation turns the simulator (load balancer ingress, storage,
// InferenceService and Application status) on or off; it is on by default.
func WithSimulation(on bool) Option { return func(o *options) { o.simulate = on } }

// WithDir starts the cluster in dir instead of a new temporary directory.
// A cluster started in a directory of the caller's is never deleted.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// Cluster is a running test cluster.
type Cluster struct {
	// Dir holds the cluster's kubeconfig, pids, logs and data.
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (Dir/kubeconfig).
	Kubeconfig string

	config    *rest.Config
	root      string
	removeDir bool
	stopOnce  sync.Once
	stopErr   error
}

// Start builds what is missing and starts a cluster, returning when the
// API server serves, the node is Ready and untainted and the default
// ServiceAccount exists. The cluster stops by itself if this process
// exits without calling Stop (its supervisor watches this process), so a panicking
// test leaves nothing behind.
func Start(ctx context.Context, opts ...Option) (*Cluster, error) {
	o := options{simulate: true}
	for _, opt := range opts {
		opt(&o)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, removeDir := o.dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "neuroscale-testcluster-"); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		removeDir = true
	}
	webhooks := "off"
	if o.webhooks {
		webhooks = "on"
	}
	args := []string{"start", dir, "--webhooks=" + webhooks, "--owner-pid=" + strconv.Itoa(os.Getpid())}
	for _, d := range o.delays {
		args = append(args, "--pod-ready-delay="+d.selector+"="+d.delay.String())
	}
	if !o.simulate {
		args = append(args, "--simulate=false")
	}
	if len(o.real) > 0 {
		args = append(args, "--real="+strings.Join(o.real, ","))
	}
	if removeDir && os.Getenv(EnvKeep) == "" {
		// Should this process die without Stop, the supervisor cleans up.
		args = append(args, "--remove-dir-on-owner-exit")
	}
	if _, err := runScript(ctx, root, args...); err != nil {
		return nil, fmt.Errorf("start test cluster: %w", keepLogs(dir, removeDir, err))
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	// Tests create many objects quickly; client-go's default 5 QPS would
	// make them measure the client's rate limiter instead of the cluster.
	cfg.QPS, cfg.Burst = 200, 400
	return &Cluster{Dir: dir, Kubeconfig: kubeconfig, config: cfg, root: root, removeDir: removeDir}, nil
}

// Stop stops every process of the cluster (by pid, SIGTERM then SIGKILL
// after 5 s) and removes its temporary directory unless NEUROSCALE_TESTCLUSTER_KEEP
// is set. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := runScript(ctx, c.root, "stop", c.Dir); err != nil {
			c.stopErr = fmt.Errorf("stop test cluster in %s: %w", c.Dir, err)
			return
		}
		if c.removeDir && os.Getenv(EnvKeep) == "" {
			if err := os.RemoveAll(c.Dir); err != nil {
				c.stopErr = fmt.Errorf("remove %s: %w", c.Dir, err)
			}
		}
	})
	return c.stopErr
}

// RESTConfig returns a copy of the admin client configuration, so callers
// may change it freely.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Client returns a typed clientset for the cluster, failing t on error.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("testcluster: clientset: %v", err)
	}
	return cs
}

// Pids returns the pids recorded for the cluster's processes, by name (see
// ProcessNames). A stop test reads them before Stop to check afterwards that
// none of them runs.
func (c *Cluster) Pids() (map[string]int, error) {
	pids := map[string]int{}
	for _, name := range ProcessNames() {
		data, err := os.ReadFile(filepath.Join(c.Dir, "pids", name+".pid"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read pid of %s: %w", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("parse pid of %s: %w", name, err)
		}
		pids[name] = pid
	}
	return pids, nil
}

// RepoRoot returns the repository root: the nearest directory, from the
// working directory up, that holds scripts/testcluster. go test runs each
// package in its own directory, so this finds the checkout under test.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "scripts", "testcluster")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/testcluster not found in any parent of the working directory")
		}
		dir = parent
	}
}

// BuildNeuroscale builds cmd/neuroscale of the checkout under test into
// dir and returns the binary's path: the tests that drive the real command
// against the cluster all run what a user would build.
func BuildNeuroscale(t testing.TB, dir string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "neuroscale")
	build := exec.Command("go", "build", "-o", bin, "./cmd/neuroscale")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build neuroscale: %v\n%s", err, out)
	}
	return bin
}

func runScript(ctx context.Context, root string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "testcluster"), args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The cluster's processes write to their own log files; should one
	// still hold our pipe, do not hang on it.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("scripts/testcluster %s: %w\n%s", args[0], err, tail(out.String(), 4000))
	}
	return out.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// CanBuild reports why the test cluster cannot be built on this machine,
// or "" if it can. Only then do tests skip: any other start failure fails.
func CanBuild() string {
	for _, tool := range []string{"go", "bash", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s not found on PATH: the test cluster cannot be built here", tool)
		}
	}
	if _, err := RepoRoot(); err != nil {
		return err.Error()
	}
	return ""
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
