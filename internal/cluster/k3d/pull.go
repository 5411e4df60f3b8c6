package k3d

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// pullImages pulls every image of imgs that Docker does not have yet, one
// after the other, reporting bytes per image. It runs before k3d's
// cluster-creation timeout starts: k3d pulls what is missing inside it,
// and on a conference network the k3s image alone can take longer than
// that timeout, which rolls the cluster back. An interrupted pull is not
// lost: Docker keeps every layer it completed, so the next `up` fetches
// only the rest.
func (p *Provider) pullImages(ctx context.Context, dc dockerclient.APIClient, imgs []Image) error {
	for _, img := range imgs {
		_, err := dc.ImageInspect(ctx, img.Ref)
		if err == nil {
			p.log.Debug("image present", "image", img.Ref)
			continue
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect image %s: %w", img.Ref, err)
		}
		if err := p.pull(ctx, dc, img); err != nil {
			return err
		}
	}
	return nil
}

// pull pulls one image, printing its progress to Options.Progress (or the
// logger at info level without one).
func (p *Provider) pull(ctx context.Context, dc dockerclient.APIClient, img Image) error {
	p.progressf("pulling %s image %s", img.Role, img.Ref)
	rc, err := dc.ImagePull(ctx, img.Ref, image.PullOptions{})
	if err != nil {
		return &PullError{Image: img.Ref, Err: err}
	}
	defer rc.Close()
	pr := newPullProgress(func(done, total int64) {
		p.progressf("pulling %s image %s: %s of %s", img.Role, img.Ref, mb(done), mb(total))
	})
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			// The stream breaks when ctx ends or the daemon goes away.
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &PullError{Image: img.Ref, Err: err}
		}
		if m.Error != nil {
			return &PullError{Image: img.Ref, Err: m.Error}
		}
		pr.add(m)
	}
	p.progressf("pulled %s image %s: %s downloaded, %d layer(s) already present", img.Role, img.Ref, mb(pr.done()), pr.reused)
	return nil
}

// progressf reports progress on the progress writer, or in the log.
func (p *Provider) progressf(format string, args ...any) {
	if p.opts.Progress != nil {
		fmt.Fprintf(p.opts.Progress, format+"\n", args...)
		return
	}
	p.log.Info(fmt.Sprintf(format, args...))
}

// pullProgress sums Docker's per-layer pull messages into bytes for the
// whole image and calls report each time another tenth of what is known
// so far has arrived, so a slow pull shows it moves without flooding the
// terminal.
type pullProgress struct {
	layers map[string][2]int64 // id -> current, total
	reused int
	last   int64
	report func(done, total int64)
}

func newPullProgress(report func(done, total int64)) *pullProgress {
	return &pullProgress{layers: map[string][2]int64{}, report: report}
}

func (pp *pullProgress) add(m jsonmessage.JSONMessage) {
	switch {
	case m.Status == "Already exists":
		pp.reused++
		return
	case m.Status == "Downloading" && m.Progress != nil && m.Progress.Total > 0:
		pp.layers[m.ID] = [2]int64{m.Progress.Current, m.Progress.Total}
	case m.Status == "Download complete":
		if l, ok := pp.layers[m.ID]; ok {
			pp.layers[m.ID] = [2]int64{l[1], l[1]}
		}
	default:
		return
	}
	done, total := pp.done(), pp.total()
	if total > 0 && (done-pp.last)*10 >= total {
		pp.last = done
		pp.report(done, total)
	}
}

func (pp *pullProgress) done() (n int64) {
	for _, l := range pp.layers {
		n += l[0]
	}
	return n
}

func (pp *pullProgress) total() (n int64) {
	for _, l := range pp.layers {
		n += l[1]
	}
	return n
}

// mb formats a byte count in megabytes.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// PullError is an image that could not be pulled before creating the
// cluster.
type PullError struct {
	Image string
	Err   error
}

// Error names the image.
func (e *PullError) Error() string { return fmt.Sprintf("pull image %s: %v", e.Image, e.Err) }

// Unwrap returns Docker's error.
func (e *PullError) Unwrap() error { return e.Err }

// Hint says that the next run resumes and how to work offline.
func (e *PullError) Hint() string {
	return "run `neuroscale up` again: Docker keeps the layers it finished, so the pull resumes; offline, `docker load` the image (or pass a `neuroscale bundle` archive) first"
}
