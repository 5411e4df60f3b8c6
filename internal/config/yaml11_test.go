package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestYAML11Warnings(t *testing.T) {
	t.Parallel()
	src := `apiVersion: neuroscale.dev/v1alpha1
kind: Platform
components:
  argocd:
    values:
      dex: {enabled: no}
      server:
        insecure: "no"
        extraArgs: [on, "--x"]
        tagged: !!str off
  backstage:
    enabled: true
    values:
      backstage: {debug: Yes, name: nope, off: 1}
`
	r, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader(src)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range r.Warnings {
		got = append(got, w.Text())
	}
	want := []string{
		`yaml11: components.argocd.values.dex.enabled: no is the string "no" here, true in a template; Helm reads it as false (at <stdin>:6:22) (fix: write false, or quote it to keep the string)`,
		`yaml11: components.argocd.values.server.extraArgs[0]: on is the string "on" here, not a boolean; Helm reads it as true (at <stdin>:9:21) (fix: write true, or quote it to keep the string)`,
		`yaml11: components.backstage.values.backstage.debug: Yes is the string "Yes" here, not a boolean; Helm reads it as true (at <stdin>:14:26) (fix: write true, or quote it to keep the string)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestYAML11WarningsNoneWithoutValues(t *testing.T) {
	t.Parallel()
	r, err := Load(LoadOptions{Path: filepath.Join("..", "..", "neuroscale.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("the example config warns: %v", r.Warnings)
	}
}

// TestCommandLineKubeconfigMeansExisting: a kubeconfig or context typed on
// the command line selects the existing provider over the file's k3d,
// unless --provider was typed too; the environment does not.
func TestCommandLineKubeconfigMeansExisting(t *testing.T) {
	t.Parallel()
	src := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\ncluster:\n  provider: k3d\n"
	for _, tc := range []struct {
		name     string
		set      map[string]string
		typed    []string
		want     string
		noteHint string
	}{
		{"nothing typed", nil, nil, ProviderK3d, ""},
		{"--kubeconfig", map[string]string{"cluster.kubeconfig": "/x/kubeconfig"}, []string{"cluster.kubeconfig"}, ProviderExisting, "cluster.provider: k3d (<stdin>:4:13)"},
		{"--context", map[string]string{"cluster.context": "kind-x"}, []string{"cluster.context"}, ProviderExisting, "instead of cluster.provider: k3d"},
		{"--kubeconfig --provider k3d", map[string]string{"cluster.kubeconfig": "/x/kubeconfig", "cluster.provider": "k3d"}, []string{"cluster.kubeconfig", "cluster.provider"}, ProviderK3d, ""},
		{"kubeconfig from the environment", map[string]string{"cluster.kubeconfig": "/x/kubeconfig"}, nil, ProviderK3d, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := NewViper(nil)
			for k, val := range tc.set {
				v.Set(k, val)
			}
			typed := map[string]bool{}
			for _, k := range tc.typed {
				typed[k] = true
			}
			// The kubeconfig does not exist: loading must not care (render
			// and validate need none).
			r, err := Load(LoadOptions{Path: "-", Stdin: strings.NewReader(src), Viper: v, CommandLine: typed})
			if err != nil {
				t.Fatal(err)
			}
			if r.Cluster.Provider != tc.want {
				t.Errorf("provider %q, want %q", r.Cluster.Provider, tc.want)
			}
			if tc.noteHint == "" && r.ProviderNote != "" || !strings.Contains(r.ProviderNote, tc.noteHint) {
				t.Errorf("note %q, want one containing %q", r.ProviderNote, tc.noteHint)
			}
		})
	}
}
