package render

import (
	"slices"
	"strings"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

func TestExpandDir(t *testing.T) {
	t.Parallel()
	r := resolved(t, "dev", "", t.TempDir(), config.Components{})
	got := map[string]string{}
	err := ExpandDir(r, "components/argocd/gitops", func(rel string, b []byte) error {
		got[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"applicationset.yaml", "kustomization.yaml"}) {
		t.Errorf("files %v: .tmpl must be executed and written without the suffix, relative to the dir", names)
	}
	if strings.Contains(got["kustomization.yaml"], "{{") {
		t.Errorf("template not executed:\n%s", got["kustomization.yaml"])
	}
	if err := ExpandDir(r, "components/no-such-dir", func(string, []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "components/no-such-dir") {
		t.Errorf("missing dir: error %v", err)
	}
}
