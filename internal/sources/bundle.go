package sources

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
)

// SumsFile is written at the top of a bundle: `sha256sum -c SHA256SUMS`
// checks the tree by hand.
const SumsFile = "SHA256SUMS"

// Bundled is one file written into a bundle.
type Bundled struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Pinned is false for a file the catalog has no digest for.
	Pinned bool `json:"pinned"`
}

// Bundle fetches every artifact of arts (through the cache, verified) and
// writes them into dir laid out as a mirror, plus SHA256SUMS. Pointing
// sources.mirror at file://dir then needs no network. Files already in dir
// are replaced atomically; nothing else in dir is touched.
func (f *Fetcher) Bundle(ctx context.Context, arts []catalog.Artifact, dir string) ([]Bundled, error) {
	paths, err := f.FetchAll(ctx, arts)
	if err != nil {
		return nil, err
	}
	out := make([]Bundled, 0, len(arts))
	for _, a := range arts {
		src := paths[a.Path]
		dst := filepath.Join(dir, filepath.FromSlash(a.Path))
		r, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", a.Path, err)
		}
		// Verified again on the way out: the cache could change between
		// FetchAll and here, and a bundle must never carry a wrong file.
		sum, n, err := writeVerified(dst, r, a, src)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		out = append(out, Bundled{Path: a.Path, SHA256: sum, Size: n, Pinned: len(a.SHA256) > 0})
	}
	slices.SortFunc(out, func(a, b Bundled) int { return strings.Compare(a.Path, b.Path) })
	var sums strings.Builder
	for _, b := range out {
		fmt.Fprintf(&sums, "%s  %s\n", b.SHA256, b.Path)
	}
	tmp := filepath.Join(dir, "."+SumsFile+".part")
	if err := os.WriteFile(tmp, []byte(sums.String()), 0o644); err != nil {
		return nil, fmt.Errorf("bundle: write %s: %w", SumsFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, SumsFile)); err != nil {
		return nil, fmt.Errorf("bundle: write %s: %w", SumsFile, err)
	}
	return out, nil
}
