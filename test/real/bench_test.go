package real_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/doctor"
	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func TestMain(m *testing.M) {
	os.Exit(testcluster.Main(m, testcluster.WithReal("controllers")))
}

// bench drives the neuroscale binary against the shared bench cluster with
// the upstream fixtures through a file:// mirror.
type bench struct {
	t          *testing.T
	bin, dir   string
	cluster    *testcluster.Cluster
	clusterDir string
	mirror     string
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	mapper     meta.RESTMapper
}

func newBench(t *testing.T) *bench {
	t.Helper()
	return newBenchOn(t, testcluster.Get(t))
}

// newBenchOn drives the cluster c (a bench of the test's own).
func newBenchOn(t *testing.T, c *testcluster.Cluster) *bench {
	t.Helper()
	t.Logf("still simulated on this bench:\n  - %s", strings.Join(testcluster.Simulated("controllers"), "\n  - "))
	mirror := catalogtest.MirrorURL(t)
	dir := t.TempDir()
	bin := testcluster.BuildNeuroscale(t, dir)
	cfg := c.RESTConfig()
	dc := memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg))
	return &bench{
		t: t, bin: bin, dir: dir, cluster: c, clusterDir: c.Dir, mirror: mirror,
		kube: c.Client(t), dyn: dynamic.NewForConfigOrDie(cfg),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(dc),
	}
}

// config writes a neuroscale.yaml (named name) for the bench, the dev
// profile, with extra YAML appended under the root.
func (b *bench) config(name, extra string) string {
	b.t.Helper()
	return b.cluster.WriteConfig(b.t, filepath.Join(b.dir, name), "dev", extra)
}

// result is one neuroscale run.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// doctor runs neuroscale doctor -o json and returns its findings and exit
// code. No Backstage runs on this bench (testcluster.Simulated), so
// doctor's wait for a forward to it is cut to a second: at its default of
// 20 s it is a third of the golden path's doctor checks, spent on a note.
func (b *bench) doctor(t *testing.T, cfg string) ([]doctor.Finding, result) {
	t.Helper()
	r := b.run(cfg, "doctor", "-o", "json", "--forward-wait", "1s")
	var rep struct{ Findings []doctor.Finding }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor -o json (exit %d): %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	return rep.Findings, r
}

func (b *bench) run(cfg string, args ...string) result {
	b.t.Helper()
	cmd := exec.Command(b.bin, append(args, "-c", cfg)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.dir, "NO_COLOR=1"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	started := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		b.t.Fatalf("run neuroscale %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String(), took: time.Since(started)}
}

// background is a neuroscale command running while the test goes on.
type background struct {
	cmd       *exec.Cmd
	out, errb *syncBuffer
	// done is closed once the command has ended.
	done chan struct{}
}

// startBackground runs neuroscale in the background; when the test ends
// it is interrupted, as with Ctrl-C, and waited for.
func (b *bench) startBackground(t *testing.T, cfg string, args ...string) *background {
	t.Helper()
	cmd := exec.Command(b.bin, append(args, "-c", cfg)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.dir, "NO_COLOR=1"}
	bg := &background{cmd: cmd, out: &syncBuffer{}, errb: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = bg.out, bg.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(bg.done)
	}()
	t.Cleanup(bg.interrupt)
	return bg
}

// interrupt stops the command as Ctrl-C does (nothing if it has ended)
// and waits for it to end.
func (bg *background) interrupt() {
	_ = bg.cmd.Process.Signal(os.Interrupt)
	<-bg.done
}

// exited returns, once the command has ended, an error with its exit
// code and output, and nil while it runs.
func (bg *background) exited() error {
	select {
	case <-bg.done:
		return fmt.Errorf("neuroscale %s ended (exit %d):\n%s\n%s", strings.Join(bg.cmd.Args[1:], " "), bg.cmd.ProcessState.ExitCode(), tail(bg.errb.String(), 4000), tail(bg.out.String(), 2000))
	default:
		return nil
	}
}

// forward runs `neuroscale forward name` with cfg until the test ends.
// exited returns, once the command has ended by itself, an error with its
// output, and nil while it runs.
func (b *bench) forward(t *testing.T, cfg, name string) (exited func() error) {
	t.Helper()
	return b.startBackground(t, cfg, "forward", name).exited
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (b *bench) mustSucceed(r result, what string) {
	b.t.Helper()
	if r.code != 0 {
		b.t.Fatalf("%s: exit %d\nstderr:\n%s\nstdout:\n%s", what, r.code, tail(r.stderr, 6000), tail(r.stdout, 3000))
	}
	b.t.Logf("%s took %v", what, r.took.Round(100*time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// render writes the whole dev platform (every component) and returns its
// objects by component.
func (b *bench) render() map[string][]*unstructured.Unstructured {
	b.t.Helper()
	out := filepath.Join(b.dir, "rendered")
	r := b.run(b.config("render.yaml", ""), "render", "--output-dir", out)
	b.mustSucceed(r, "render")
	objs := map[string][]*unstructured.Unstructured{}
	files, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, f := range files {
		comp := strings.TrimSuffix(filepath.Base(f), ".yaml")
		objs[comp] = decodeAll(b.t, f)
	}
	return objs
}

func decodeAll(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return decodeBytes(t, data)
}

// decodeBytes decodes a multi-document YAML stream as render does.
func decodeBytes(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.ParseYAML(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// chartFile reads one file from a fixture chart.
func (b *bench) chartFile(chart, name string) []byte {
	b.t.Helper()
	f, err := os.Open(filepath.Join(strings.TrimPrefix(b.mirror, "file://"), "charts", chart))
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		b.t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			b.t.Fatalf("%s not in %s: %v", name, chart, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		}
	}
}

// apply server-side applies obj as the test's field manager.
func (b *bench) apply(obj *unstructured.Unstructured) {
	b.t.Helper()
	m := b.mapping(obj)
	data, err := json.Marshal(obj.Object)
	if err != nil {
		b.t.Fatal(err)
	}
	force := true
	_, err = b.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()).Patch(context.Background(), obj.GetName(),
		"application/apply-patch+yaml", data, metav1.PatchOptions{FieldManager: "bench-test", Force: &force})
	if err != nil {
		b.t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

func (b *bench) mapping(obj *unstructured.Unstructured) *meta.RESTMapping {
	b.t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		b.mapper.(meta.ResettableRESTMapper).Reset()
		if m, err = b.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			b.t.Fatalf("map %s: %v", gvk, err)
		}
	}
	return m
}

// admitted asks the API server, with its admission webhooks, whether obj
// would be created: a server-side dry run. It returns the refusal, or nil.
func (b *bench) admitted(obj *unstructured.Unstructured) error {
	b.t.Helper()
	m := b.mapping(obj)
	_, err := b.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()).Create(context.Background(), obj.DeepCopy(),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	if !strings.Contains(err.Error(), "denied the request") {
		// Errorf, not Fatalf: callers run in subtests of b.t.
		b.t.Errorf("dry-run create %s %s failed, but not by a webhook's refusal: %v", obj.GetKind(), obj.GetName(), err)
	}
	return err
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s after %v", what, time.Since(start).Round(100*time.Millisecond))
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
