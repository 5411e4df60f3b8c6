package platform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/diag"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
	"github.com/neuroscale-dev/neuroscale/internal/progress"
	"github.com/neuroscale-dev/neuroscale/internal/secrets"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// recorder is a progress.Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *recorder) Report(e progress.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Close() error { return nil }

// phases returns each phase's last state, and the order phases started in.
func (r *recorder) phases() (map[string]progress.State, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := map[string]progress.State{}
	var order []string
	for _, e := range r.events {
		if e.Phase == "" {
			continue
		}
		if _, seen := last[e.Phase]; !seen {
			order = append(order, e.Phase)
		}
		last[e.Phase] = e.State
	}
	return last, order
}

// tamperedMirror is a copy of the upstream fixtures whose cert-manager
// chart no longer matches the digest the catalog pins.
func tamperedMirror(t *testing.T) string {
	t.Helper()
	dst := catalogtest.Copy(t)
	chart := filepath.Join(dst, "charts", "cert-manager-v1.21.1.tgz")
	f, err := os.OpenFile(chart, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("tampered"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(dst)
}

// onlyCertManager and onlyBackstage turn the other components off, so the
// render stays small.
const (
	onlyCertManager = `components:
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  kyverno: {enabled: false}
  backstage: {enabled: false}
  demo: {enabled: false}
`
	// The title alone, without a matching organization name, breaks a
	// Backstage rule (see internal/validate).
	brokenBackstage = `components:
  cert-manager: {enabled: false}
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  kyverno: {enabled: false}
  demo: {enabled: false}
  backstage:
    values:
      appConfig:
        app:
          title: My Portal
`
)

// failing is one way up must fail before anything is created.
type failing struct {
	name string
	// config is the YAML after the cluster and sources settings; mirror
	// and port are filled in.
	config func(t *testing.T) (extra, mirror string)
	// phase is the phase that must fail.
	phase string
	check func(t *testing.T, err error)
}

func failingCases() []failing {
	return []failing{
		{
			name: "busy port",
			config: func(t *testing.T) (string, string) {
				return fmt.Sprintf("forwards:\n  - {name: backstage, namespace: backstage, service: neuroscale-backstage, localPort: %d, remotePort: 7007}\n", porttest.Occupied(t)) + onlyCertManager,
					catalogtest.MirrorURL(t)
			},
			phase: progress.PhasePreflight,
			check: func(t *testing.T, err error) {
				var pe *diag.Failed
				if !errors.As(err, &pe) || pe.Check != "preflight" || !strings.Contains(err.Error(), "is already in use") {
					t.Errorf("got %v, want a preflight error about the busy port", err)
				}
			},
		},
		{
			name:   "digest mismatch",
			config: func(t *testing.T) (string, string) { return onlyCertManager, tamperedMirror(t) },
			phase:  progress.PhaseDownload,
			check: func(t *testing.T, err error) {
				var de *sources.DigestError
				if !errors.As(err, &de) {
					t.Errorf("got %v, want a sources.DigestError", err)
				}
			},
		},
		{
			name:   "rule error",
			config: func(t *testing.T) (string, string) { return brokenBackstage, catalogtest.MirrorURL(t) },
			phase:  progress.PhaseValidate,
			check: func(t *testing.T, err error) {
				var ie *diag.Failed
				if !errors.As(err, &ie) || ie.Check != "validate" || !strings.Contains(err.Error(), "NS-VALUES-UNUSED") {
					t.Errorf("got %v, want a *diag.Failed of validate naming the rule", err)
				}
			},
		},
	}
}

// writeConfig writes neuroscale.yaml into dir.
func writeConfig(t *testing.T, dir, cluster, mirror, extra string) string {
	t.Helper()
	y := fmt.Sprintf(`apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profile: tiny
profiles:
  tiny:
    extends: dev
    requirements: {memoryGiB: 1, cpus: 1, diskGiB: 0}
%s
sources:
  mirror: %s
  cacheDir: %s
%s`, cluster, mirror, filepath.Join(dir, "cache"), extra)
	path := filepath.Join(dir, "neuroscale.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func options(path string, sink progress.Sink) Options {
	return Options{
		Config:    config.LoadOptions{Path: path},
		NoForward: true,
		Secrets:   secrets.Options{LookupEnv: func(string) (string, bool) { return "", false }},
		Sink:      sink,
	}
}

// assertStoppedBefore checks that the phase failed and that neither the
// cluster phase nor any later one started.
func assertStoppedBefore(t *testing.T, rec *recorder, failed string) {
	t.Helper()
	last, order := rec.phases()
	if last[failed] != progress.StateFailed {
		t.Errorf("phase %s ended %q, want failed (phases %v)", failed, last[failed], order)
	}
	for _, p := range []string{progress.PhaseCluster, progress.PhaseConverge, progress.PhaseVerify, progress.PhaseForward} {
		if _, ok := last[p]; ok {
			t.Errorf("phase %s started after %s failed (phases %v)", p, failed, order)
		}
	}
}

// TestUpChecksBeforeK3dCluster: with provider k3d, each failure stops up
// before it asks Docker to create, start or remove anything.
func TestUpChecksBeforeK3dCluster(t *testing.T) {
	for _, tc := range failingCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := dockertest.Start(t, &dockertest.Daemon{})
			d.Info.NCPU, d.Info.MemTotal = 8, 16<<30
			dir := t.TempDir()
			extra, mirror := tc.config(t)
			cluster := fmt.Sprintf("cluster:\n  provider: k3d\n  name: nstest\n  kubeconfig: %s\n  ports: {http: %d, https: %d}",
				filepath.Join(dir, "kubeconfig"), porttest.Free(t), porttest.Free(t))
			rec := &recorder{}
			_, err := Up(context.Background(), options(writeConfig(t, dir, cluster, mirror, extra), rec))
			tc.check(t, err)
			assertStoppedBefore(t, rec, tc.phase)
			if reqs := d.Requests(); len(reqs) > 0 {
				t.Errorf("Docker was asked to change things: %v", reqs)
			}
			if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a kubeconfig was written (%v)", err)
			}
		})
	}
}

// TestUpChecksBeforeExistingCluster: with provider existing, each failure
// stops up before a namespace, record or object exists in the cluster.
func TestUpChecksBeforeExistingCluster(t *testing.T) {
	c := testcluster.Get(t)
	kube := c.Client(t)
	ctx := context.Background()
	namespaces := func() []string {
		list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ns := range list.Items {
			out = append(out, ns.Name)
		}
		slices.Sort(out)
		return out
	}
	before := namespaces()
	for _, tc := range failingCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extra, mirror := tc.config(t)
			cluster := fmt.Sprintf("cluster:\n  provider: existing\n  kubeconfig: %s", c.Kubeconfig)
			rec := &recorder{}
			_, err := Up(ctx, options(writeConfig(t, dir, cluster, mirror, extra), rec))
			tc.check(t, err)
			assertStoppedBefore(t, rec, tc.phase)
			// Anything up applies (its records included) lives in a
			// namespace it creates first.
			if after := namespaces(); !slices.Equal(before, after) {
				t.Errorf("namespaces changed: before %v, after %v", before, after)
			}
		})
	}
}
