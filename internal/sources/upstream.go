package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/registry"
	"sigs.k8s.io/yaml"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
)

// opener opens the bytes of one artifact.
type opener func(ctx context.Context) (io.ReadCloser, error)

// source says where a comes from (for messages) and how to open it.
func (f *Fetcher) source(a catalog.Artifact) (string, opener) {
	if f.opts.Mirror != "" {
		return f.mirrorSource(a)
	}
	switch a.Kind {
	case catalog.SourceHelmRepo:
		return a.Upstream(), func(ctx context.Context) (io.ReadCloser, error) {
			u, err := f.resolveRepoChart(ctx, a)
			var fe *FetchError
			if errors.As(err, &fe) {
				return nil, err
			} else if err != nil {
				return nil, &FetchError{File: a.Path, Source: a.Upstream(), Err: err}
			}
			return f.get(ctx, a, u, false)
		}
	case catalog.SourceOCI:
		return a.Upstream(), func(ctx context.Context) (io.ReadCloser, error) {
			data, err := f.pullOCI(ctx, a)
			if err != nil {
				return nil, &FetchError{File: a.Path, Source: a.Upstream(), Err: err}
			}
			return io.NopCloser(bytes.NewReader(data)), nil
		}
	}
	return a.Location, func(ctx context.Context) (io.ReadCloser, error) {
		return f.get(ctx, a, a.Location, false)
	}
}

// mirror is a parsed sources.mirror: a local directory or a base URL.
type mirror struct {
	dir  string
	base string
}

func parseMirror(m string) (mirror, error) {
	u, err := url.Parse(m)
	if err != nil {
		return mirror{}, fmt.Errorf("sources.mirror %q: %w", m, err)
	}
	switch u.Scheme {
	case "file":
		// file:///abs/dir, and file://rel/dir read as a relative path.
		return mirror{dir: filepath.FromSlash(u.Host + u.Path)}, nil
	case "http", "https":
		return mirror{base: strings.TrimSuffix(m, "/")}, nil
	}
	return mirror{}, fmt.Errorf("sources.mirror %q is neither file:// nor http(s)://", m)
}

func (f *Fetcher) mirrorSource(a catalog.Artifact) (string, opener) {
	m, _ := parseMirror(f.opts.Mirror) // checked in New
	if m.dir != "" {
		p := filepath.Join(m.dir, filepath.FromSlash(a.Path))
		return p, func(context.Context) (io.ReadCloser, error) {
			r, err := os.Open(p)
			if err != nil {
				return nil, &FetchError{File: a.Path, Source: p, Err: err, Mirror: true}
			}
			return r, nil
		}
	}
	u := m.base + "/" + a.Path
	return u, func(ctx context.Context) (io.ReadCloser, error) {
		return f.get(ctx, a, u, true)
	}
}

// get downloads u; the caller closes the body.
func (f *Fetcher) get(ctx context.Context, a catalog.Artifact, u string, fromMirror bool) (io.ReadCloser, error) {
	fail := func(err error) error { return &FetchError{File: a.Path, Source: u, Err: err, Mirror: fromMirror} }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fail(err)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fail(fmt.Errorf("HTTP %s", resp.Status))
	}
	return &sized{ReadCloser: resp.Body, size: resp.ContentLength}, nil
}

// repoIndex is the part of a Helm repository's index.yaml neuroscale reads.
type repoIndex struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
	} `json:"entries"`
}

// resolveRepoChart reads the repository's index.yaml and returns the URL
// of a's chart version, resolved against the repository URL.
func (f *Fetcher) resolveRepoChart(ctx context.Context, a catalog.Artifact) (string, error) {
	base := strings.TrimSuffix(a.Location, "/") + "/"
	body, err := f.get(ctx, a, base+"index.yaml", false)
	if err != nil {
		return "", err
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, MaxFileSize))
	if err != nil {
		return "", fmt.Errorf("read %sindex.yaml: %w", base, err)
	}
	var idx repoIndex
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return "", fmt.Errorf("parse %sindex.yaml: %w", base, err)
	}
	for _, e := range idx.Entries[a.Chart] {
		if e.Version != a.Version && strings.TrimPrefix(e.Version, "v") != strings.TrimPrefix(a.Version, "v") {
			continue
		}
		if len(e.URLs) == 0 {
			return "", fmt.Errorf("%sindex.yaml lists %s %s without a URL", base, a.Chart, a.Version)
		}
		ref, err := url.Parse(e.URLs[0])
		if err != nil {
			return "", fmt.Errorf("%sindex.yaml: chart URL %q: %w", base, e.URLs[0], err)
		}
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		return b.ResolveReference(ref).String(), nil
	}
	return "", fmt.Errorf("%sindex.yaml has no %s %s", base, a.Chart, a.Version)
}

// pullOCI pulls a's chart with Helm's registry client, which uses Helm's
// and Docker's stored credentials. Helm's Pull takes no context, so a
// cancelled pull is abandoned rather than stopped; the HTTP client's own
// timeouts end it.
func (f *Fetcher) pullOCI(ctx context.Context, a catalog.Artifact) ([]byte, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard), registry.ClientOptHTTPClient(f.http)}
	if f.opts.OCIPlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("oci registry client: %w", err)
	}
	ref := strings.TrimPrefix(a.Location, "oci://") + ":" + a.Version
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := c.Pull(ref, registry.PullOptWithChart(true))
		if err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{data: res.Chart.Data}
	}()
	select {
	case r := <-ch:
		if r.err == nil && len(r.data) == 0 {
			r.err = errors.New("registry returned an empty chart")
		}
		return r.data, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
