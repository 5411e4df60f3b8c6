package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/neuroscale-dev/neuroscale/internal/catalog"
	"github.com/neuroscale-dev/neuroscale/internal/sources"
)

// bundleOptions are the bundle command's flags.
type bundleOptions struct {
	dir string
}

// bundleResult is bundle's result with -o json|yaml.
type bundleResult struct {
	Dir    string            `json:"dir"`
	Mirror string            `json:"mirror"`
	Bytes  int64             `json:"bytes"`
	Files  []sources.Bundled `json:"files"`
}

func newBundleCmd(g *globals) *cobra.Command {
	o := &bundleOptions{}
	cmd := &cobra.Command{
		Use:   "bundle --output-dir DIR",
		Short: "Write every pinned chart and manifest into DIR, a mirror for offline installs",
		Long: `bundle downloads every chart and release manifest of the catalog (or copies
them from sources.mirror), checks each against its pinned sha256, and writes
them into DIR laid out as a mirror:

  charts/<chart>-<version>.tgz
  manifests/<component>-<version>/<file>
  SHA256SUMS

Point sources.mirror (or --mirror) at file://DIR, or serve DIR over HTTP, and
neuroscale needs no internet for charts and manifests.`,
		Example: `  neuroscale bundle --output-dir ./neuroscale-bundle
  neuroscale up --mirror file://$PWD/neuroscale-bundle`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.dir == "" {
				return errors.New("bundle needs --output-dir DIR: the directory to write the mirror into")
			}
			ctx, cancel := g.withTimeout(cmd.Context())
			defer cancel()
			r, err := g.load(ctx)
			if err != nil {
				return err
			}
			cat, err := catalog.Load()
			if err != nil {
				return err
			}
			f, err := sources.New(sources.Options{CacheDir: r.Sources.CacheDir, Mirror: r.Sources.Mirror, Log: g.log})
			if err != nil {
				return err
			}
			files, err := f.Bundle(ctx, cat.Artifacts(), o.dir)
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(o.dir)
			if err != nil {
				abs = o.dir
			}
			res := bundleResult{Dir: abs, Mirror: "file://" + filepath.ToSlash(abs), Files: files}
			for _, b := range files {
				res.Bytes += b.Size
			}
			if g.structured() {
				return g.writeResult(res)
			}
			for _, b := range files {
				pin := "pinned"
				if !b.Pinned {
					pin = "not pinned"
				}
				fmt.Fprintf(g.streams.Out, "%-60s %9d  %s  %s\n", b.Path, b.Size, b.SHA256, pin)
			}
			fmt.Fprintf(g.streams.Out, "\n%d files, %.1f MiB in %s\nuse it with: --mirror %s\n",
				len(files), float64(res.Bytes)/(1<<20), abs, res.Mirror)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.dir, "output-dir", "", "directory to write the mirror into (created if missing)")
	return cmd
}
