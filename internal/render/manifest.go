package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/neuroscale-dev/neuroscale/assets"
	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// ExpandDir calls write for every file of the embedded directory dir (a
// manifest step's kustomization, under assets/), with files ending in
// .tmpl executed with content.TemplateData(r) and passed without the
// suffix. rel is slash-separated and relative to dir. This is exactly what
// render builds, so anything that writes a step to disk for inspection
// should use it.
func ExpandDir(r *config.Resolved, dir string, write func(rel string, data []byte) error) error {
	data := content.TemplateData(r)
	err := fs.WalkDir(assets.FS, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets.FS, p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".tmpl") {
			tpl, err := template.New(p).Option("missingkey=error").Parse(string(b))
			if err != nil {
				return fmt.Errorf("parse template: %w", err)
			}
			var out bytes.Buffer
			if err := tpl.Execute(&out, data); err != nil {
				return fmt.Errorf("execute template: %w", err)
			}
			b, p = out.Bytes(), strings.TrimSuffix(p, ".tmpl")
		}
		return write(strings.TrimPrefix(p, dir+"/"), b)
	})
	if err != nil {
		return fmt.Errorf("expand embedded %s: %w", dir, err)
	}
	return nil
}

// renderManifest builds a manifest step's kustomization in memory: the
// embedded directory with its .tmpl files executed, plus the step's
// upstream files under <dir>/upstream/. Nothing touches the disk, so a
// build cannot pick up stray files and two renders cannot collide.
//
// A build whose inputs (every file written, by name and content) were
// built before is read from the render cache instead: kustomize's parsing
// and copying of nodes was most of a no-op up's render.
func renderManifest(r *config.Resolved, cc *catalog.Component, m *catalog.Manifest, files map[string]string, cache *renderCache, log *slog.Logger) (*Step, error) {
	ns := m.Namespace
	if ns == "" {
		ns = cc.Namespace
	}
	mem := filesys.MakeFsInMemory()
	key := sha256.New()
	fmt.Fprintf(key, "%s\x00manifest\x00%s\x00", cacheFormat, m.Dir)
	write := func(name string, b []byte) error {
		fmt.Fprintf(key, "%s\x00%d\x00", name, len(b))
		key.Write(b)
		return mem.WriteFile(name, b)
	}
	err := ExpandDir(r, m.Dir, func(rel string, b []byte) error {
		return write(path.Join("/", m.Dir, rel), b)
	})
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		src := files[f.Mirror]
		if src == "" {
			return nil, fmt.Errorf("upstream file %s was not fetched", f.Mirror)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read upstream file: %w", err)
		}
		if err := write(path.Join("/", m.Dir, "upstream", f.Name), b); err != nil {
			return nil, fmt.Errorf("stage upstream file %s: %w", f.Name, err)
		}
	}
	k := hex.EncodeToString(key.Sum(nil))
	objs, _, ok, err := cache.get(k)
	if err != nil {
		log.Warn("cached build of "+m.Dir+" was changed since it was written; building it again", "err", err)
	}
	if ok {
		log.Debug("built manifests from cache", "step", m.Name, "dir", m.Dir, "objects", len(objs))
		return &Step{Kind: StepManifest, Name: m.Name, Namespace: ns, Objects: objs}, nil
	}
	opts := krusty.MakeDefaultOptions()
	// Keep the order the kustomization lists, as the files were written;
	// server-side apply orders CRDs and namespaces itself.
	opts.Reorder = krusty.ReorderOptionNone
	rm, err := krusty.MakeKustomizer(opts).Run(mem, "/"+m.Dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", m.Dir, err)
	}
	objs = make([]*unstructured.Unstructured, 0, rm.Size())
	for _, res := range rm.Resources() {
		// Decoded straight from kustomize's parsed nodes: serializing to
		// YAML and parsing it again costs a third of the build.
		raw, err := res.Map()
		if err != nil {
			return nil, fmt.Errorf("kustomize output of %s: %w", m.Dir, err)
		}
		u, err := toUnstructured(raw)
		if err != nil {
			return nil, fmt.Errorf("kustomize output of %s: %s %s: %w", m.Dir, res.GetKind(), res.GetName(), err)
		}
		objs = append(objs, u)
	}
	if err := cache.put(k, objs, nil); err != nil {
		log.Debug("render cache not written", "dir", m.Dir, "err", err)
	}
	log.Debug("built manifests", "step", m.Name, "dir", m.Dir, "objects", len(objs))
	return &Step{Kind: StepManifest, Name: m.Name, Namespace: ns, Objects: objs}, nil
}
