package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/atomicwriter"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// cacheFormat changes whenever what renderChart produces changes for the
// same inputs (a new parser, a new Helm, the digest beside each entry), so
// old entries are never read.
const cacheFormat = "neuroscale-render-v2"

// digestSuffix names the file beside each entry that holds the sha256 of
// the entry's bytes. A cached render is applied to a cluster as it is, so
// it is used only when it is still exactly what was written: an entry
// edited by hand or cut short by a crash is rendered again.
const digestSuffix = ".sha256"

// ErrCacheTampered says a cache entry no longer matches its digest.
var ErrCacheTampered = errors.New("does not match the digest stored beside it")

// renderCache keeps each chart's rendered objects on disk, keyed by
// everything the render depends on: the chart archive's bytes, the values,
// the release name and namespace, and the Kubernetes version. Helm's
// template engine and its manifest splitting are most of a render's cost
// (about 1 s of CPU for the platform); a re-run of `up` with nothing
// changed must not pay it again. Manifest steps' kustomize builds are kept
// the same way, keyed by every file the build reads (renderManifest).
type renderCache struct {
	dir string
}

type cachedRender struct {
	Objects []any `json:"objects"`
	Hooks   []any `json:"hooks"`
}

// key is the cache key of one chart render. chartDigest is the sha256 of
// the chart archive that sources already verified, so the archive is not
// read a second time.
func (c *renderCache) key(chartDigest, release, namespace, kubeVersion string, values map[string]any) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", cacheFormat, chartDigest, release, namespace, kubeVersion)
	// encoding/json sorts map keys, so equal values give equal bytes.
	if err := json.NewEncoder(h).Encode(values); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *renderCache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".json")
}

// get returns the cached objects and hooks, or ok=false. err is
// ErrCacheTampered (wrapped, naming the entry) when an entry exists but its
// bytes do not match its digest; the caller renders again and says so.
func (c *renderCache) get(key string) (objs, hooks []*unstructured.Unstructured, ok bool, err error) {
	if c == nil {
		return nil, nil, false, nil
	}
	b, ok, err := c.read(c.path(key))
	if !ok {
		return nil, nil, false, err
	}
	var cc cachedRender
	// util/json turns integral numbers into int64, as the YAML parser
	// does, so cached and fresh objects are identical.
	if err := utiljson.Unmarshal(b, &cc); err != nil {
		return nil, nil, false, nil
	}
	objs, ok1 := toObjects(cc.Objects)
	hooks, ok2 := toObjects(cc.Hooks)
	return objs, hooks, ok1 && ok2, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func toObjects(in []any) ([]*unstructured.Unstructured, bool) {
	out := make([]*unstructured.Unstructured, 0, len(in))
	for _, o := range in {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, false
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, true
}

// put stores a render; failures only cost the next run time, so they are
// returned for logging, never fatal.
func (c *renderCache) put(key string, objs, hooks []*unstructured.Unstructured) error {
	if c == nil {
		return nil
	}
	cc := cachedRender{Objects: make([]any, 0, len(objs)), Hooks: make([]any, 0, len(hooks))}
	for _, o := range objs {
		cc.Objects = append(cc.Objects, o.Object)
	}
	for _, o := range hooks {
		cc.Hooks = append(cc.Hooks, o.Object)
	}
	b, err := json.Marshal(cc)
	if err != nil {
		return err
	}
	return c.write(c.path(key), b)
}

// yamlFormat changes whenever WriteYAML would write a step's objects
// differently, so old YAML entries are never read.
const yamlFormat = "v1"

func (c *renderCache) yamlPath(key string) string {
	return filepath.Join(c.dir, key[:2], key+"."+yamlFormat+".yaml")
}

// getYAML returns the YAML WriteYAML wrote for the objects of the entry
// key, or ok=false (none, or not what was written).
func (c *renderCache) getYAML(key string) ([]byte, bool) {
	if c == nil || key == "" {
		return nil, false
	}
	b, ok, _ := c.read(c.yamlPath(key))
	return b, ok
}

// putYAML stores what WriteYAML wrote for the objects of the entry key;
// a failure costs only the next render's time.
func (c *renderCache) putYAML(key string, b []byte) {
	if c == nil || key == "" {
		return
	}
	_ = c.write(c.yamlPath(key), b)
}

// read returns the entry at p when it matches the digest stored beside it;
// err is ErrCacheTampered (wrapped, naming the entry) when it does not.
func (c *renderCache) read(p string) (_ []byte, ok bool, err error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false, nil
	}
	want, err := os.ReadFile(p + digestSuffix)
	if err != nil || strings.TrimSpace(string(want)) != sha256Hex(b) {
		return nil, false, fmt.Errorf("render cache entry %s %w", p, ErrCacheTampered)
	}
	return b, true, nil
}

// write stores b at p and its digest beside it.
func (c *renderCache) write(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// The entry first, then its digest: a crash between the two leaves an
	// entry that does not match, which is rendered again.
	if err := atomicwriter.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	return atomicwriter.WriteFile(p+digestSuffix, []byte(sha256Hex(b)+"\n"), 0o644)
}
