package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/moby/sys/atomicwriter"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/neuroscale-dev/neuroscale/internal/render"
	"github.com/neuroscale-dev/neuroscale/internal/validate"
)

// renderOptions are the render command's flags.
type renderOptions struct {
	// dir is where -o text writes one file per component.
	dir string
}

func newRenderCmd(g *globals) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Write every object the platform installs, one YAML file per component",
		Long: `render builds the whole platform without a cluster: each chart through the
Helm SDK (CRDs and hooks included) and each release manifest through
kustomize, from verified downloads (or sources.mirror). It writes one
multi-document <component>.yaml per component, in install order, into
--output-dir; -o yaml writes the same stream on standard output, -o json
one v1 List of every object. Secret values are replaced by REDACTED.

Notes that only matter to someone applying the files by hand (objects too
large for client-side apply) are printed on standard error.`,
		Example: `  neuroscale render --profile prod --output-dir rendered/
  neuroscale render --mirror file:///srv/neuroscale-bundle -o yaml | less
  neuroscale render -o json | jq '.items[].kind' | sort | uniq -c`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("output-dir") && g.output != formatText {
				return fmt.Errorf("--output-dir and -o %s both say where the objects go: keep one", g.output)
			}
			ctx, cancel := g.withTimeout(cmd.Context())
			defer cancel()
			r, err := g.load(ctx)
			if err != nil {
				return err
			}
			p, err := render.Render(ctx, r, render.Options{Log: g.log})
			if err != nil {
				return err
			}
			for _, f := range validate.ApplyNotes(p) {
				fmt.Fprintf(g.streams.Err, "note: %s %s %s: use %s\n", f.ID, f.Object, f.Message, f.Fix)
			}
			switch g.output {
			case formatYAML:
				for _, c := range p.Components {
					if err := render.WriteYAML(g.streams.Out, c); err != nil {
						return fmt.Errorf("write %s: %w", c.Name, err)
					}
				}
				return nil
			case formatJSON:
				return render.WriteJSON(g.streams.Out, p)
			}
			return writeRendered(g.streams.Out, o.dir, p)
		},
	}
	cmd.Flags().StringVar(&o.dir, "output-dir", "rendered", "directory to write <component>.yaml files into (-o text)")
	return cmd
}

// writeRendered writes each component to dir/<name>.yaml atomically, and
// removes the files of components the configuration turned off, so the
// directory never shows a component that would not be installed.
func writeRendered(out io.Writer, dir string, p *render.Platform) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &renderOutputError{dir: dir, err: err}
	}
	// Encoding YAML is most of a cached render's CPU: components are
	// encoded in parallel, then written and listed in install order.
	bufs := make([]bytes.Buffer, len(p.Components))
	var eg errgroup.Group
	eg.SetLimit(runtime.GOMAXPROCS(0))
	for i, c := range p.Components {
		eg.Go(func() error {
			if err := render.WriteYAML(&bufs[i], c); err != nil {
				return fmt.Errorf("encode %s: %w", c.Name, err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for i, c := range p.Components {
		path := filepath.Join(dir, c.Name+".yaml")
		// Through a temporary file and a rename, so an interrupted render
		// never leaves half a file for kubectl to apply.
		if err := atomicwriter.WriteFile(path, bufs[i].Bytes(), 0o644); err != nil {
			return &renderOutputError{dir: dir, err: err}
		}
		fmt.Fprintf(out, "%-16s %4d objects  %s  digest %.12s\n", c.Name, len(c.Objects()), path, c.Digest)
	}
	for _, name := range p.Disabled {
		path := filepath.Join(dir, name+".yaml")
		if err := os.Remove(path); err == nil {
			fmt.Fprintf(out, "%-16s disabled: removed %s\n", name, path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return &renderOutputError{dir: dir, err: err}
		} else {
			fmt.Fprintf(out, "%-16s disabled\n", name)
		}
	}
	return nil
}

// renderOutputError is a rendered platform that could not be written.
type renderOutputError struct {
	dir string
	err error
}

func (e *renderOutputError) Error() string {
	return fmt.Sprintf("write rendered platform to %s: %v", e.dir, e.err)
}

func (e *renderOutputError) Unwrap() error { return e.err }

func (e *renderOutputError) Hint() string {
	return "choose a writable directory with --output-dir DIR, or print to standard output with -o yaml"
}
