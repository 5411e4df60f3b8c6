// Package catalogtest helps tests find the real upstream charts and
// manifests the catalog pins: ../shared/fixtures/upstream beside the
// repository, laid out as a mirror. It is imported only by tests.
package catalogtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Fixtures returns the absolute path of the upstream fixture tree. It
// fails the test, never skips it: CI always clones the repository next to
// shared/, and a skipped render test proves nothing.
func Fixtures(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("catalogtest: cannot locate the source file")
	}
	// file is <repo>/internal/catalog/catalogtest/catalogtest.go.
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dir, err := filepath.Abs(filepath.Join(repo, "..", "shared", "fixtures", "upstream"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		t.Fatalf("upstream fixtures not found at %s: the repository must be cloned next to shared/ (shared/fixtures/upstream): %v", dir, err)
	}
	return dir
}

// MirrorURL is Fixtures as a file:// sources.mirror.
func MirrorURL(t testing.TB) string {
	return "file://" + filepath.ToSlash(Fixtures(t))
}

// Copy returns a copy of the fixture tree in a temporary directory, for a
// test that damages it (a corrupted chart, a missing file).
func Copy(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "upstream")
	if err := os.CopyFS(dst, os.DirFS(Fixtures(t))); err != nil {
		t.Fatal(err)
	}
	return dst
}
