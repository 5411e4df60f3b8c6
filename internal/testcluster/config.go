package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
)

// WriteConfig writes the neuroscale.yaml every test that drives the binary
// against c starts from, at path: provider existing with c's kubeconfig,
// the upstream fixtures as the mirror, a source cache beside path, profile
// (the default when empty), and extra, YAML appended under the root (for
// example a components block). It returns path.
func (c *Cluster) WriteConfig(t testing.TB, path, profile, extra string) string {
	t.Helper()
	y := "apiVersion: neuroscale.dev/v1alpha1\nkind: Platform\n"
	if profile != "" {
		y += "profile: " + profile + "\n"
	}
	y += fmt.Sprintf("cluster:\n  provider: existing\n  kubeconfig: %s\nsources:\n  mirror: %s\n  cacheDir: %s\n",
		strconv.Quote(c.Kubeconfig), strconv.Quote(catalogtest.MirrorURL(t)), strconv.Quote(filepath.Join(filepath.Dir(path), "cache")))
	y += extra
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
