package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
	"github.com/neuroscale-dev/neuroscale/internal/engine"
	"github.com/neuroscale-dev/neuroscale/internal/goldentest"
	"github.com/neuroscale-dev/neuroscale/internal/porttest"
)

var (
	// Times and durations differ from run to run; what happens and in
	// which order must not.
	jsonTime     = regexp.MustCompile(`"time":"[^"]+"`)
	jsonDuration = regexp.MustCompile(`"duration_s":[0-9.e-]+`)
	textDuration = regexp.MustCompile(`  *[0-9]+(\.[0-9])?s\b|[0-9]+m[0-9]+s\b`)
	tempPaths    = regexp.MustCompile(`/tmp/[^ "\n:]+`)
	ports        = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// TestUpFirstSeconds runs `neuroscale up` against the Docker fake, which
// answers what preflight asks but has no image to pull: the golden files
// are what a user sees from the first second (every phase as it starts
// and ends, the download's progress, the cluster's steps) up to that
// failure, as lines off a terminal and as -o json events.
func TestUpFirstSeconds(t *testing.T) {
	d := dockertest.Start(t, &dockertest.Daemon{})
	d.Info.NCPU, d.Info.MemTotal = 8, 16<<30
	dir := t.TempDir()
	cfg := filepath.Join(dir, "neuroscale.yaml")
	src := fmt.Sprintf(`apiVersion: neuroscale.dev/v1alpha1
kind: Platform
cluster:
  provider: k3d
  name: nsfirst
  kubeconfig: %s
  ports: {http: %d, https: %d}
sources:
  mirror: %s
  cacheDir: %s
forwards:
  - {name: backstage, namespace: backstage, service: neuroscale-backstage, localPort: %d, remotePort: 7007}
components:
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  kyverno: {enabled: false}
  backstage: {enabled: false}
  demo: {enabled: false}
`, filepath.Join(dir, "kubeconfig"), porttest.Free(t), porttest.Free(t), catalogtest.MirrorURL(t), filepath.Join(dir, "cache"), porttest.Free(t))
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format, golden string
	}{
		{"text", "up-first-seconds.txt"},
		{"json", "up-first-seconds.json"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			// A fresh cache each time: the download must show.
			if err := os.RemoveAll(filepath.Join(dir, "cache")); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := run(context.Background(), "", nil, "up", "--config", cfg, "-o", tc.format)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (the fake has no image to pull)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			got := "# stdout\n" + stdout + "# stderr\n" + stderr
			got = jsonTime.ReplaceAllString(got, `"time":"T"`)
			got = jsonDuration.ReplaceAllString(got, `"duration_s":D`)
			got = textDuration.ReplaceAllString(got, " D")
			got = tempPaths.ReplaceAllString(got, "/tmp/…")
			got = ports.ReplaceAllString(got, "127.0.0.1:PORT")
			goldentest.Assert(t, filepath.Join("testdata", tc.golden), []byte(got))
		})
	}
}

// TestPrintPlanSaysWhy: the plan names what changes and, for a repair,
// why, before anything is applied.
func TestPrintPlanSaysWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		plan []engine.PlanEntry
		want string
	}{
		{"nothing", []engine.PlanEntry{{Component: "argocd", Action: engine.ActionCheck}}, "Nothing changed; checking health.\n"},
		{"unhealthy", []engine.PlanEntry{
			{Component: "argocd", Action: engine.ActionCheck},
			{Component: "backstage", Action: engine.ActionRepair, Reason: "unhealthy: Deployment.apps/backstage/backstage is InProgress: Available: 0/1"},
		}, "Applying: backstage (repair: unhealthy: Deployment.apps/backstage/backstage is InProgress: Available: 0/1)\n"},
		{"upgrade and install", []engine.PlanEntry{
			{Component: "kserve", Action: engine.ActionUpgrade, FromVersion: "v0.15.0", ToVersion: "v0.16.0"},
			{Component: "demo", Action: engine.ActionInstall},
		}, "Applying: kserve (v0.15.0 → v0.16.0), demo (install)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printPlan(&b, tt.plan)
			if b.String() != tt.want {
				t.Errorf("printPlan:\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}
