package sources

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
)

func loadCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFetcher(t *testing.T, mirror string, log *slog.Logger) *Fetcher {
	t.Helper()
	f, err := New(Options{CacheDir: t.TempDir(), Mirror: mirror, Log: log, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkCache asserts every artifact is in the cache with a pinned digest.
func checkCache(t *testing.T, f *Fetcher, arts []catalog.Artifact, got map[string]string) {
	t.Helper()
	if len(got) != len(arts) {
		t.Fatalf("fetched %d files, want %d", len(got), len(arts))
	}
	for _, a := range arts {
		p := got[a.Path]
		if p != f.Path(a) {
			t.Errorf("%s cached at %s, want %s", a.Path, p, f.Path(a))
		}
		sum, err := fileSHA256(p)
		if err != nil {
			t.Fatal(err)
		}
		if sum != a.SHA256[0] {
			t.Errorf("%s: cached sha256 %s, want the fixture's %s", a.Path, sum, a.SHA256[0])
		}
	}
}

func TestFetchFromFileMirror(t *testing.T) {
	t.Parallel()
	arts := loadCatalog(t).Artifacts()
	f := newFetcher(t, catalogtest.MirrorURL(t), nil)
	got, err := f.FetchAll(context.Background(), arts)
	if err != nil {
		t.Fatal(err)
	}
	checkCache(t, f, arts, got)
}

// countingServer serves dir and counts requests.
func countingServer(t *testing.T, dir string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFetchFromHTTPMirrorThenCache(t *testing.T) {
	t.Parallel()
	arts := loadCatalog(t).Artifacts()
	srv, hits := countingServer(t, catalogtest.Fixtures(t))
	f := newFetcher(t, srv.URL+"/", nil)
	got, err := f.FetchAll(context.Background(), arts)
	if err != nil {
		t.Fatal(err)
	}
	checkCache(t, f, arts, got)
	if hits.Load() != int64(len(arts)) {
		t.Errorf("%d requests for %d files", hits.Load(), len(arts))
	}
	// Warm: every file is re-verified from the cache, none downloaded.
	if _, err := f.FetchAll(context.Background(), arts); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != int64(len(arts)) {
		t.Errorf("warm fetch made %d more requests", hits.Load()-int64(len(arts)))
	}
}

func TestCorruptedMirrorIsADigestError(t *testing.T) {
	t.Parallel()
	c := loadCatalog(t)
	tree := catalogtest.Copy(t)
	const file = "manifests/net-kourier-1.23.0/kourier.yaml"
	p := filepath.Join(tree, filepath.FromSlash(file))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("kourier"), []byte("kouriex"), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := sha256.Sum256(b)
	actual := hex.EncodeToString(bad[:])
	srv, _ := countingServer(t, tree)
	f := newFetcher(t, srv.URL, nil)
	_, err = f.FetchAll(context.Background(), c.Artifacts())
	var de *DigestError
	if !errors.As(err, &de) {
		t.Fatalf("error %v, want a *DigestError", err)
	}
	want := c.Component("kourier").Artifacts()[0].SHA256[0]
	msg := err.Error()
	for _, s := range []string{file, want, actual, srv.URL + "/" + file} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not name %s", msg, s)
		}
	}
	if de.Hint() == "" {
		t.Error("no hint")
	}
	if _, err := os.Stat(f.Path(c.Component("kourier").Artifacts()[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupted file was kept in the cache: %v", err)
	}
	// The other files are fine and cached.
	if _, err := os.Stat(f.Path(c.Component("kserve").Artifacts()[0])); err != nil {
		t.Errorf("a good file next to the bad one was not cached: %v", err)
	}
}

func TestCorruptedCacheIsFetchedAgain(t *testing.T) {
	t.Parallel()
	a := loadCatalog(t).Component("kourier").Artifacts()[0]
	var logs bytes.Buffer
	f := newFetcher(t, catalogtest.MirrorURL(t), slog.New(slog.NewTextHandler(&logs, nil)))
	p := f.Path(a)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if sum, _ := fileSHA256(p); sum != a.SHA256[0] {
		t.Errorf("cache holds %s after refetch", sum)
	}
	if !strings.Contains(logs.String(), "does not match") {
		t.Errorf("no warning about the damaged cache file: %q", logs.String())
	}
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	a := loadCatalog(t).Component("kourier").Artifacts()[0]
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, mirror, want, hint string
	}{
		{"missing in file mirror", "file://" + t.TempDir(), "no such file", "neuroscale bundle"},
		{"404 from http mirror", srv.URL, "404", "neuroscale bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, tt.mirror, nil)
			_, err := f.Fetch(context.Background(), a)
			var fe *FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want *FetchError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), a.Path) {
				t.Errorf("error %q lacks %q or the file", err, tt.want)
			}
			if !strings.Contains(fe.Hint(), tt.hint) {
				t.Errorf("hint %q lacks %q", fe.Hint(), tt.hint)
			}
		})
	}
	if _, err := New(Options{CacheDir: t.TempDir(), Mirror: "ftp://x"}); err == nil {
		t.Error("ftp:// mirror accepted")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no cache dir accepted")
	}
}

func TestFetchTimesOut(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	f, err := New(Options{CacheDir: t.TempDir(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = f.Fetch(context.Background(), catalog.Artifact{Path: "manifests/x-1/x.yaml", Kind: catalog.SourceURL, Location: srv.URL + "/x.yaml"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("timeout took %s", time.Since(start))
	}
}

// TestUnpinnedFileIsAcceptedAndLogged: a file without a catalog digest is
// kept, and its digest is logged so it can be pinned.
func TestUnpinnedFileIsAcceptedAndLogged(t *testing.T) {
	t.Parallel()
	body := []byte("kind: ConfigMap\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	f, err := New(Options{CacheDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), catalog.Artifact{Path: "manifests/x-1/x.yaml", Kind: catalog.SourceURL, Location: srv.URL + "/x.yaml"}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if !strings.Contains(logs.String(), hex.EncodeToString(sum[:])) {
		t.Errorf("digest of an unpinned file not logged: %q", logs.String())
	}
}

// TestHelmRepoUpstream exercises the real upstream path for repo charts:
// index.yaml, a relative chart URL, the download and the digest check.
func TestHelmRepoUpstream(t *testing.T) {
	t.Parallel()
	fx := catalogtest.Fixtures(t)
	cat := loadCatalog(t)
	var chart *catalog.Chart
	for _, s := range cat.Component("backstage").Steps {
		if s.Chart != nil {
			chart = s.Chart
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/charts/index.yaml", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "apiVersion: v1\nentries:\n  backstage:\n  - version: 2.8.1\n    urls: [nope.tgz]\n  - version: %s\n    urls: [dl/backstage-%s.tgz]\n", chart.Version, chart.Version)
	})
	mux.HandleFunc("/charts/dl/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(fx, "charts", "backstage-2.8.2.tgz"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	up := *chart
	up.Repo = srv.URL + "/charts"
	f := newFetcher(t, "", nil)
	p, err := f.Fetch(context.Background(), up.Artifact("backstage"))
	if err != nil {
		t.Fatal(err)
	}
	if sum, _ := fileSHA256(p); sum != chart.SHA256[0] {
		t.Errorf("sha256 %s", sum)
	}

	missing := up
	missing.Version = "9.9.9"
	missing.Mirror = "charts/backstage-9.9.9.tgz"
	_, err = f.Fetch(context.Background(), missing.Artifact("backstage"))
	if err == nil || !strings.Contains(err.Error(), "has no backstage 9.9.9") {
		t.Errorf("error %v, want the missing version named", err)
	}
}

// TestOCIUpstream pulls a chart through Helm's registry client from a
// minimal OCI distribution server, the same protocol ghcr.io speaks.
func TestOCIUpstream(t *testing.T) {
	t.Parallel()
	fx := catalogtest.Fixtures(t)
	cat := loadCatalog(t)
	chart := cat.Component("kserve").Steps[0].Chart
	data, err := os.ReadFile(filepath.Join(fx, filepath.FromSlash(chart.Mirror)))
	if err != nil {
		t.Fatal(err)
	}
	reg := newOCIRegistry(t, "charts/"+chart.Name, chart.Version, chart.Name, data)
	up := *chart
	up.OCI = "oci://" + strings.TrimPrefix(reg.URL, "http://") + "/charts/" + chart.Name
	f, err := New(Options{CacheDir: t.TempDir(), OCIPlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Fetch(context.Background(), up.Artifact("kserve"))
	if err != nil {
		t.Fatal(err)
	}
	if sum, _ := fileSHA256(p); sum != chart.SHA256[0] {
		t.Errorf("sha256 %s", sum)
	}
	bad := up
	bad.Version = "v0.0.1"
	bad.Mirror = "charts/kserve-crd-v0.0.1.tgz"
	if _, err := f.Fetch(context.Background(), bad.Artifact("kserve")); err == nil {
		t.Error("pulling a missing tag succeeded")
	}
}

func TestBundleIsAMirror(t *testing.T) {
	t.Parallel()
	arts := loadCatalog(t).Artifacts()
	f := newFetcher(t, catalogtest.MirrorURL(t), nil)
	dir := t.TempDir()
	got, err := f.Bundle(context.Background(), arts, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(arts) {
		t.Fatalf("bundled %d files, want %d", len(got), len(arts))
	}
	sums, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if !strings.Contains(string(sums), a.SHA256[0]+"  "+a.Path+"\n") {
			t.Errorf("%s missing from %s:\n%s", a.Path, SumsFile, sums)
		}
	}
	// A fresh cache fed only from the bundle gets every pinned file.
	g := newFetcher(t, "file://"+dir, nil)
	paths, err := g.FetchAll(context.Background(), arts)
	if err != nil {
		t.Fatal(err)
	}
	checkCache(t, g, arts, paths)
}

// TestUpstreamUnpinnedTrustsFirstUse: a chart whose official digest is not
// pinned (only a repackaged mirror's is) is accepted from upstream once,
// its digest pinned beside it, and a later different download is refused;
// through a mirror the listed digests still hold.
func TestUpstreamUnpinnedTrustsFirstUse(t *testing.T) {
	t.Parallel()
	body := []byte("first upstream bytes")
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	a := catalog.Artifact{Path: "charts/x-1.tgz", Kind: catalog.SourceURL, Location: srv.URL + "/x-1.tgz",
		SHA256: []string{strings.Repeat("0", 64)}, UpstreamUnpinned: true}
	var logs bytes.Buffer
	f, err := New(Options{CacheDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatalf("first upstream download refused: %v", err)
	}
	sum := sha256.Sum256(body)
	pin, err := os.ReadFile(p + ".sha256")
	if err != nil || strings.TrimSpace(string(pin)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest not pinned: %q %v", pin, err)
	}
	if !strings.Contains(logs.String(), "no official digest is pinned") {
		t.Errorf("first use not announced: %q", logs.String())
	}
	// The cached file is reused as long as it matches the pin.
	if _, err := f.Fetch(context.Background(), a); err != nil {
		t.Fatalf("cached pinned file refused: %v", err)
	}
	// Upstream changes under the same version: refused.
	if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	body = []byte("different upstream bytes")
	mu.Unlock()
	var de *DigestError
	if _, err := f.Fetch(context.Background(), a); !errors.As(err, &de) {
		t.Fatalf("changed upstream file accepted: %v", err)
	}

	// Through a mirror the catalog's digests are enforced as before.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charts", "x-1.tgz"), []byte("mirror bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	fm, err := New(Options{CacheDir: t.TempDir(), Mirror: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fm.Fetch(context.Background(), a); !errors.As(err, &de) {
		t.Fatalf("mirror file with a wrong digest accepted: %v", err)
	}
}
