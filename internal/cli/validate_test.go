package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/validate"
)

// mirror is a file:// mirror of the real upstream fixtures.
func mirror(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../../../shared/fixtures/upstream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "charts")); err != nil {
		t.Skipf("upstream fixtures not available: %v", err)
	}
	return "file://" + abs
}

// backstageOnly turns off every component but Backstage: the broken
// configs are about Backstage, and rendering less keeps the test quick.
const backstageOnly = `  cert-manager: {enabled: false}
  knative-serving: {enabled: false}
  kourier: {enabled: false}
  kserve: {enabled: false}
  argocd: {enabled: false}
  kyverno: {enabled: false}
  demo: {enabled: false}
`

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	m := mirror(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "neuroscale.yaml")
	if err := os.WriteFile(broken, []byte(`apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profile: dev
components:
  backstage:
    values:
      appConfig:
        app:
          title: My Portal
`+backstageOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"NEUROSCALE_SOURCES_CACHE_DIR=" + filepath.Join(dir, "cache")}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"dev passes", []string{"validate", "--config", "-", "--profile", "dev"}, 0, "WARNING NS-GITOPS-MISSING gitops:"},
		{"missing config file", []string{"validate", "--config", filepath.Join(dir, "absent.yaml")}, 1, ""},
		{"prod passes", []string{"validate", "--profile", "prod", "--config", "-"}, 0, "WARNING NS-GITOPS-MISSING gitops:"},
		{"broken fails", []string{"validate", "--config", broken}, 1, "ERROR NS-VALUES-UNUSED chart backstage (release neuroscale-backstage): "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			in := strings.NewReader("apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\n")
			code := Execute(context.Background(), Streams{In: in, Out: &out, Err: &errOut}, append(tc.args, "--mirror", m), env)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.contains) {
				t.Errorf("stdout lacks %q:\n%s", tc.contains, out.String())
			}
			if strings.Contains(out.String()+errOut.String(), validate.RuleSSARequired) {
				t.Errorf("validate prints %s, which only render's readers need:\n%s", validate.RuleSSARequired, out.String())
			}
			if tc.contains != "" && !strings.Contains(errOut.String(), "validate: profile ") {
				t.Errorf("stderr lacks the summary:\n%s", errOut.String())
			}
		})
	}
}

func TestValidateCommandJSON(t *testing.T) {
	t.Parallel()
	m := mirror(t)
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	in := strings.NewReader("apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\nsecrets:\n  GITHUB_TOKEN:\n    value: not-for-files-1234\ncomponents:\n" + backstageOnly)
	code := Execute(context.Background(), Streams{In: in, Out: &out, Err: &errOut},
		[]string{"validate", "-o", "json", "--config", "-", "--mirror", m},
		[]string{"NEUROSCALE_SOURCES_CACHE_DIR=" + dir})
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut.String())
	}
	var rep validate.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, out.String())
	}
	if rep.Profile != "dev" || rep.Errors() != 1 || rep.Findings[0].ID != validate.RuleSecretLiteral || rep.Findings[0].Position != "<stdin>:5:5" {
		t.Errorf("report = %+v", rep)
	}
	if strings.Contains(out.String()+errOut.String(), "not-for-files-1234") {
		t.Error("the secret value was printed")
	}
}
