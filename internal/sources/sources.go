// Package sources downloads the catalog's charts and release manifests into
// a local cache and proves each one is the pinned file: every file is
// checked against the catalog's sha256 digests when it is downloaded and
// again each time it is used from the cache.
//
// Files come from upstream (http(s) URLs, Helm repository indexes, OCI
// registries) or, when sources.mirror is set, from a mirror laid out like
// the cache: charts/<chart>-<version>.tgz and
// manifests/<component>-<version>/<file>. Bundle writes such a mirror, so a
// workshop can run with no internet.
package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
)

// Defaults for Options.
const (
	// DefaultTimeout bounds one file's download, all retries included.
	DefaultTimeout = 10 * time.Minute
	// DefaultParallel is how many files download at once.
	DefaultParallel = 4
	// MaxFileSize stops a runaway download from filling the disk; the
	// largest pinned file is about 2.3 MB.
	MaxFileSize = 256 << 20
)

// Options configure a Fetcher.
type Options struct {
	// CacheDir holds verified files (config Resolved.Sources.CacheDir).
	CacheDir string
	// Mirror, when set, replaces upstream: file:///dir or http(s)://base.
	Mirror string
	// HTTPClient downloads files; nil uses one with connect, TLS and
	// response-header timeouts.
	HTTPClient *http.Client
	// OCIPlainHTTP talks plain HTTP to OCI registries (local registries).
	OCIPlainHTTP bool
	// Timeout bounds each file; 0 means DefaultTimeout.
	Timeout time.Duration
	// Parallel is how many files download at once; 0 means DefaultParallel.
	Parallel int
	// Log receives debug lines about each file; nil discards them.
	Log *slog.Logger
	// OnProgress, when set, is called as FetchAll's downloads advance
	// (from many goroutines, one call at a time), for a progress bar.
	OnProgress func(Progress)
}

// Fetcher gets verified files into the cache.
type Fetcher struct {
	opts Options
	http *http.Client
	log  *slog.Logger

	mu sync.Mutex
	// sums holds the verified sha256 of every file Fetch returned, by
	// cache path, so callers that key on a file's content (the render
	// cache) need not read and hash it again.
	sums map[string]string
}

// Digest returns the sha256 Fetch verified for the file at cachePath, or
// "" when Fetch has not returned it.
func (f *Fetcher) Digest(cachePath string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sums[cachePath]
}

func (f *Fetcher) remember(cachePath, sum string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sums == nil {
		f.sums = map[string]string{}
	}
	f.sums[cachePath] = sum
}

// New returns a Fetcher. It does no I/O.
func New(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("sources: no cache directory set")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Mirror != "" {
		if _, err := parseMirror(opts.Mirror); err != nil {
			return nil, err
		}
	}
	f := &Fetcher{opts: opts, http: opts.HTTPClient, log: opts.Log}
	if f.http == nil {
		f.http = newHTTPClient()
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	// Whole-download limits come from the per-file context instead of
	// Client.Timeout, so a slow but moving download of a large file on a
	// poor connection is not cut at an arbitrary point.
	return &http.Client{Transport: t}
}

// Path is where a in the cache lives, whether or not it is there yet.
func (f *Fetcher) Path(a catalog.Artifact) string {
	return filepath.Join(f.opts.CacheDir, filepath.FromSlash(a.Path))
}

// Fetch returns the cache path of a, verified against its digests. A
// cached file that no longer matches is fetched again; a download that
// does not match is a *DigestError and is not kept.
func (f *Fetcher) Fetch(ctx context.Context, a catalog.Artifact) (string, error) {
	return f.fetch(ctx, a, nil)
}

// fetch is Fetch reporting its download to t (nil: to nobody).
func (f *Fetcher) fetch(ctx context.Context, a catalog.Artifact, t *tracker) (string, error) {
	dst := f.Path(a)
	// Trust on first use, for upstream files whose official digest is not
	// pinned: the digest of the first download is kept beside the file and
	// every later use is checked against it.
	tofu := f.opts.Mirror == "" && a.UpstreamUnpinned
	pinFile := dst + ".sha256"
	if tofu {
		if b, err := os.ReadFile(pinFile); err == nil {
			a.SHA256 = append(slices.Clone(a.SHA256), strings.TrimSpace(string(b)))
		} else {
			a.SHA256 = nil
		}
	}
	if sum, err := fileSHA256(dst); err == nil {
		if len(a.SHA256) == 0 || slices.Contains(a.SHA256, sum) {
			f.log.Debug("using cached file", "file", a.Path, "sha256", sum, "known", len(a.SHA256) > 0)
			f.remember(dst, sum)
			return dst, nil
		}
		f.log.Warn("cached file does not match its pinned digest; fetching it again", "file", dst, "sha256", sum)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read cached %s: %w", dst, err)
	}

	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	start := time.Now()
	src, open := f.source(a)
	r, err := open(ctx)
	if err != nil {
		return "", err
	}
	defer r.Close()
	var body io.Reader = r
	if t != nil {
		t.start(a.Path, sizeOf(r))
		body = &countingReader{r: r, t: t, file: a.Path}
	}
	sum, n, err := writeVerified(dst, body, a, src)
	if err != nil {
		return "", err
	}
	if tofu && len(a.SHA256) == 0 {
		if err := os.WriteFile(pinFile, []byte(sum+"\n"), 0o644); err != nil {
			return "", fmt.Errorf("pin digest of %s: %w", a.Path, err)
		}
		f.log.Warn("no official digest is pinned for this file; accepted the first download and pinned its digest in the cache", "file", a.Path, "from", src, "sha256", sum)
	}
	f.log.Debug("fetched", "file", a.Path, "from", src, "bytes", n, "sha256", sum, "known", len(a.SHA256) > 0, "took", time.Since(start).Round(time.Millisecond))
	f.remember(dst, sum)
	return dst, nil
}

// FetchAll fetches arts in parallel and returns each one's cache path by
// its Path. Every failure is reported, not only the first.
func (f *Fetcher) FetchAll(ctx context.Context, arts []catalog.Artifact) (map[string]string, error) {
	out := make(map[string]string, len(arts))
	var t *tracker
	if f.opts.OnProgress != nil {
		t = newTracker(len(arts), f.opts.OnProgress)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, f.opts.Parallel)
	for _, a := range arts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, fmt.Errorf("fetch %s: %w", a.Path, ctx.Err()))
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			p, err := f.fetch(ctx, a, t)
			if err == nil {
				t.done(a.Path)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[a.Path] = p
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		// Goroutines finish in any order; the report should not.
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// writeVerified streams r into dst through a temporary file in the same
// directory, checks the digest, and renames it into place only when it
// matches, so readers never see a partial or wrong file.
func writeVerified(dst string, r io.Reader, a catalog.Artifact, src string) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, fmt.Errorf("create cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return "", 0, fmt.Errorf("create cache file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return "", n, fmt.Errorf("download %s from %s: %w", a.Path, src, err)
	}
	if n > MaxFileSize {
		return "", n, fmt.Errorf("download %s from %s: larger than %d MiB, which no pinned file is", a.Path, src, MaxFileSize>>20)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if len(a.SHA256) > 0 && !slices.Contains(a.SHA256, sum) {
		return "", n, &DigestError{File: a.Path, Source: src, Expected: a.SHA256, Actual: sum}
	}
	if err := tmp.Close(); err != nil {
		return "", n, fmt.Errorf("write cache file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", n, fmt.Errorf("write cache file: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", n, fmt.Errorf("write cache file: %w", err)
	}
	done = true
	return sum, n, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
