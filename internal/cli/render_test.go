package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
)

// runIn executes neuroscale with args and env in an empty directory (so no
// neuroscale.yaml is picked up) and returns the exit code and streams.
func runIn(t *testing.T, dir string, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	t.Chdir(dir)
	code := Execute(context.Background(), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, args, env)
	return code, out.String(), errOut.String()
}

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	env := []string{"NEUROSCALE_SOURCES_MIRROR=" + catalogtest.MirrorURL(t), "NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")}
	outDir := filepath.Join(dir, "out")
	// A stale file of a component that is now disabled must go.
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "demo.yaml"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\ncomponents:\n  demo:\n    enabled: false\n"
	code, stdout, stderr := runIn(t, dir, cfg, env, "render", "--config", "-", "--profile", "prod", "--output-dir", outDir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, name := range config.ComponentNames {
		p := filepath.Join(outDir, name+".yaml")
		b, err := os.ReadFile(p)
		if name == config.Demo {
			if !os.IsNotExist(err) {
				t.Errorf("%s: stale file of a disabled component kept (%v)", p, err)
			}
			if !strings.Contains(stdout, "demo             disabled: removed") {
				t.Errorf("removal not reported:\n%s", stdout)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.HasPrefix(string(b), "# component: "+name+"\n") {
			t.Errorf("%s.yaml does not start with its component comment: %.60q", name, b)
		}
		if !strings.Contains(stdout, p) {
			t.Errorf("summary does not list %s:\n%s", p, stdout)
		}
	}
	b, err := os.ReadFile(filepath.Join(outDir, "backstage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "postgres-password: REDACTED") {
		t.Error("backstage.yaml does not show the PostgreSQL password redacted")
	}
}

func TestRenderCommandToStdout(t *testing.T) {
	dir := t.TempDir()
	env := []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")}
	code, stdout, stderr := runIn(t, dir, "", env, "render", "--mirror", catalogtest.MirrorURL(t), "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The apply notes are for this command's readers, on standard error.
	if !strings.Contains(stderr, "note: NS-SSA-REQUIRED CustomResourceDefinition inferenceservices.serving.kserve.io is ") {
		t.Errorf("stderr lacks the server-side apply note:\n%s", stderr)
	}
	var order []string
	for _, line := range strings.Split(stdout, "\n") {
		if name, ok := strings.CutPrefix(line, "# component: "); ok {
			order = append(order, name)
		}
	}
	if strings.Join(order, ",") != strings.Join(config.ComponentNames, ",") {
		t.Errorf("components on stdout %v, want %v", order, config.ComponentNames)
	}
	if n := strings.Count(stdout, "\n---\n"); n < 300 {
		t.Errorf("only %d documents on stdout", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "rendered")); !os.IsNotExist(err) {
		t.Errorf("-o yaml also wrote the default directory (%v)", err)
	}

	code, stdout, stderr = runIn(t, dir, "", env, "render", "--mirror", catalogtest.MirrorURL(t), "-o", "json")
	if code != 0 {
		t.Fatalf("-o json: exit %d: %s", code, stderr)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("-o json is not JSON: %v", err)
	}
	if list.Kind != "List" || len(list.Items) < 300 {
		t.Errorf("-o json: kind %q with %d items, want a List of the platform", list.Kind, len(list.Items))
	}
	if strings.Contains(stdout, "postgres-password\": \"") && !strings.Contains(stdout, "\"postgres-password\": \"REDACTED\"") {
		t.Error("-o json shows a Secret value")
	}

	code, _, stderr = runIn(t, dir, "", env, "render", "--output-dir", dir, "-o", "json")
	if code != 1 || !strings.Contains(stderr, "keep one") {
		t.Errorf("--output-dir with -o json: exit %d, %s", code, stderr)
	}
	code, _, stderr = runIn(t, dir, "", env, "render", "--output", "rendered/")
	if code != 1 || !strings.Contains(stderr, "text, json or yaml") || !strings.Contains(stderr, "--output-dir") {
		t.Errorf("--output DIR: exit %d, want a usage error pointing at --output-dir:\n%s", code, stderr)
	}
}

func TestRenderCommandErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	empty := t.TempDir()
	env := []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")}
	code, _, stderr := runIn(t, dir, "", env, "render", "--mirror", "file://"+empty, "-o", "yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, s := range []string{"Error: ", "charts/cert-manager-v1.21.1.tgz", "Hint: ", "neuroscale bundle"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

func TestBundleCommand(t *testing.T) {
	dir := t.TempDir()
	env := []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")}
	out := filepath.Join(dir, "bundle")
	code, stdout, stderr := runIn(t, dir, "", env, "bundle", "--mirror", catalogtest.MirrorURL(t), "--output-dir", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "--mirror file://"+filepath.ToSlash(out)) {
		t.Errorf("no usage line:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, sources.SumsFile)); err != nil {
		t.Error(err)
	}
	// The bundle alone renders the platform, through a fresh cache.
	env = []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache2")}
	code, _, stderr = runIn(t, dir, "", env, "render", "--mirror", "file://"+out, "--output-dir", filepath.Join(dir, "r"))
	if code != 0 {
		t.Fatalf("render from the bundle: exit %d: %s", code, stderr)
	}

	code, _, stderr = runIn(t, dir, "", env, "bundle")
	if code != 1 || !strings.Contains(stderr, "--output-dir DIR") {
		t.Errorf("bundle without --output-dir: exit %d, %s", code, stderr)
	}
}
