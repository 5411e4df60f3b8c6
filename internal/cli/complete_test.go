package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion asks cobra's __complete, as the shell scripts do, and
// checks the candidates (the last line is cobra's directive).
func TestCompletion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "neuroscale.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: neuroscale.dev/v1alpha1
kind: Platform
profiles:
  workshop: {extends: dev}
secrets:
  EXTRA_TOKEN: {env: EXTRA}
forwards:
  - {name: ui, namespace: a, service: b, localPort: 9001, remotePort: 80}
  - {name: api, namespace: a, service: c, localPort: 9002, remotePort: 80}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts:
- {name: zeta, context: {cluster: c, user: u}}
- {name: alpha, context: {cluster: c, user: u}}
current-context: zeta
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"forward names", []string{"forward", "--config", cfg, ""}, []string{"ui", "api"}},
		{"forward names not given yet", []string{"forward", "--config", cfg, "ui", ""}, []string{"api"}},
		{"secret names", []string{"secret", "set", "--config", cfg, ""}, []string{"EXTRA_TOKEN", "GITHUB_TOKEN"}},
		{"secret set takes one", []string{"secret", "set", "--config", cfg, "GITHUB_TOKEN", ""}, nil},
		{"profiles", []string{"up", "--config", cfg, "--profile", ""}, []string{"dev", "prod", "workshop"}},
		{"profiles of a broken config", []string{"up", "--config", filepath.Join(dir, "absent.yaml"), "--profile", ""}, []string{"dev", "prod"}},
		{"providers", []string{"up", "--provider", ""}, []string{"k3d", "existing"}},
		{"contexts", []string{"status", "--kubeconfig", kc, "--context", ""}, []string{"alpha", "zeta"}},
		{"-o of status", []string{"status", "-o", ""}, []string{"text", "json", "yaml"}},
		{"-o of up", []string{"up", "-o", ""}, []string{"text", "json"}},
		{"-o of forward", []string{"forward", "--output", ""}, []string{"text", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(context.Background(), "", nil, append([]string{"__complete"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			got := lines[:len(lines)-1]
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("candidates %q, want %q", got, tc.want)
			}
			if dir := lines[len(lines)-1]; dir != ":4" {
				t.Errorf("directive %s, want :4 (no file completion)", dir)
			}
		})
	}
}
